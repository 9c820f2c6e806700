#include "layouts.h"

#include <linux/types.h>

#include <cstddef>

extern "C" {
#include "tcp.h"
}

namespace kubepulse {
namespace {

#define FIELD(obj, type, field) obj.Set(#field, static_cast<double>(offsetof(type, field)))

Napi::Object TcpEvent(Napi::Env env) {
  Napi::Object offsets = Napi::Object::New(env);
  FIELD(offsets, kp_tcp_event, hdr);
  FIELD(offsets, kp_tcp_event, ts_ns);
  FIELD(offsets, kp_tcp_event, cgroup_id);
  FIELD(offsets, kp_tcp_event, elapsed_ns);
  FIELD(offsets, kp_tcp_event, tgid);
  FIELD(offsets, kp_tcp_event, pid);
  FIELD(offsets, kp_tcp_event, result);
  FIELD(offsets, kp_tcp_event, family);
  FIELD(offsets, kp_tcp_event, dport);
  FIELD(offsets, kp_tcp_event, comm);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<double>(sizeof(kp_tcp_event)));
  layout.Set("offsets", offsets);
  layout.Set("type", static_cast<double>(KP_EVENT_TCP));
  return layout;
}

}  // namespace

Napi::Value Layouts(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("tcp", TcpEvent(info.Env()));
  return out;
}

}  // namespace kubepulse
