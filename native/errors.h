// Turning a libbpf/errno failure into a JavaScript Error that says what
// failed and why, with .code (e.g. "EPERM") and .errno for callers to map
// into hints ("needs CAP_BPF").
#pragma once
#include <napi.h>

#include <string>

namespace kubepulse {

// err is a positive or negative errno value.
Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err);

}  // namespace kubepulse
