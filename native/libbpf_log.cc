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
  // The verifier log arrives as one print of many kilobytes.
  va_list measure;
  va_copy(measure, args);
  int n = vsnprintf(nullptr, 0, format, measure);
  va_end(measure);
  if (n <= 0) return n;
  std::string text(static_cast<size_t>(n) + 1, '\0');
  vsnprintf(text.data(), text.size(), format, args);
  text.resize(static_cast<size_t>(n));
  std::lock_guard<std::mutex> lock(log_mutex);
  kept.append(text);
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
