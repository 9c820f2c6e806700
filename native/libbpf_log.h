// Keeps what libbpf prints so that a failure can say why (the verifier's or
// the loader's last words) instead of spraying it on stderr.
#pragma once
#include <string>

namespace kubepulse {

// Installs the libbpf print callback; safe to call more than once.
void InstallLibbpfLog();
// Clears the kept text (call before an operation whose failure you report).
void ResetLibbpfLog();
// The last lines libbpf printed since the reset (bounded).
std::string TakeLibbpfLog();

}  // namespace kubepulse
