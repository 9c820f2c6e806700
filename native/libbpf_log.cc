#include "libbpf_log.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace kubepulse {
namespace {

constexpr size_t kMaxKept = 8192;
std::mutex log_mutex;
std::string kept;

int PrintToBuffer(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), format, args);
  if (n <= 0) return n;
  std::lock_guard<std::mutex> lock(log_mutex);
  kept.append(line);
  if (kept.size() > kMaxKept) kept.erase(0, kept.size() - kMaxKept);
  return n;
}

}  // namespace

void InstallLibbpfLog() { libbpf_set_print(PrintToBuffer); }

void ResetLibbpfLog() {
  std::lock_guard<std::mutex> lock(log_mutex);
  kept.clear();
}

std::string TakeLibbpfLog() {
  std::lock_guard<std::mutex> lock(log_mutex);
  std::string out;
  out.swap(kept);
  return out;
}

}  // namespace kubepulse
