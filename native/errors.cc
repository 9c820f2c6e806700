#include "errors.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "libbpf_log.h"

namespace kubepulse {
namespace {

const char* ErrnoName(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case ESRCH: return "ESRCH";
    case EINTR: return "EINTR";
    case E2BIG: return "E2BIG";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case EINVAL: return "EINVAL";
    case ENOSPC: return "ENOSPC";
    case ENOSYS: return "ENOSYS";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    default: return "";
  }
}

}  // namespace

Napi::Error ErrnoError(Napi::Env env, const std::string& what, int err) {
  err = std::abs(err);
  // 524 is the kernel-internal ENOTSUPP, which strerror does not know.
  std::string reason = err == 524 ? "operation not supported by this kernel" : std::strerror(err);
  std::string message = what + ": " + reason;
  Napi::Error error = Napi::Error::New(env, message);
  const char* name = ErrnoName(err);
  if (name[0] != '\0') error.Set("code", Napi::String::New(env, name));
  error.Set("errno", Napi::Number::New(env, err));
  std::string log = TakeLibbpfLog();
  if (!log.empty()) error.Set("libbpfLog", Napi::String::New(env, log));
  return error;
}

}  // namespace kubepulse
