#include "layouts.h"

#include <linux/types.h>

#include <cstddef>

extern "C" {
#include "dns.h"
#include "flows.h"
#include "syscalls.h"
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
  FIELD(offsets, kp_tcp_event, daddr);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<double>(sizeof(kp_tcp_event)));
  layout.Set("offsets", offsets);
  layout.Set("type", static_cast<double>(KP_EVENT_TCP));
  return layout;
}

Napi::Object DnsEvent(Napi::Env env) {
  Napi::Object offsets = Napi::Object::New(env);
  FIELD(offsets, kp_dns_event, hdr);
  FIELD(offsets, kp_dns_event, ts_ns);
  FIELD(offsets, kp_dns_event, cgroup_id);
  FIELD(offsets, kp_dns_event, socket_cookie);
  FIELD(offsets, kp_dns_event, tgid);
  FIELD(offsets, kp_dns_event, direction);
  FIELD(offsets, kp_dns_event, transport);
  FIELD(offsets, kp_dns_event, family);
  FIELD(offsets, kp_dns_event, sport);
  FIELD(offsets, kp_dns_event, dport);
  FIELD(offsets, kp_dns_event, payload_len);
  FIELD(offsets, kp_dns_event, wire_len);
  FIELD(offsets, kp_dns_event, server);
  FIELD(offsets, kp_dns_event, payload);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<double>(sizeof(kp_dns_event)));
  layout.Set("offsets", offsets);
  layout.Set("type", static_cast<double>(KP_EVENT_DNS));
  layout.Set("maxPayload", static_cast<double>(KP_DNS_MAX_PAYLOAD));
  layout.Set("maxPorts", static_cast<double>(KP_DNS_MAX_PORTS));
  return layout;
}

Napi::Object FlowMap(Napi::Env env) {
  Napi::Object key = Napi::Object::New(env);
  FIELD(key, kp_flow_key, cgroup_id);
  FIELD(key, kp_flow_key, peer);
  FIELD(key, kp_flow_key, port);
  FIELD(key, kp_flow_key, direction);
  FIELD(key, kp_flow_key, protocol);
  FIELD(key, kp_flow_key, family);
  Napi::Object value = Napi::Object::New(env);
  FIELD(value, kp_flow_value, count);
  FIELD(value, kp_flow_value, first_ns);
  FIELD(value, kp_flow_value, last_ns);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("keySize", static_cast<double>(sizeof(kp_flow_key)));
  layout.Set("valueSize", static_cast<double>(sizeof(kp_flow_value)));
  layout.Set("key", key);
  layout.Set("value", value);
  return layout;
}

Napi::Object SyscallMap(Napi::Env env) {
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("valueSize", static_cast<double>(sizeof(kp_syscall_bits)));
  layout.Set("words", static_cast<double>(KP_SYSCALL_WORDS));
  layout.Set("maxRoots", static_cast<double>(KP_MAX_WATCHED_ROOTS));
  return layout;
}

Napi::Object PodRoots(Napi::Env env) {
  Napi::Object offsets = Napi::Object::New(env);
  FIELD(offsets, kp_pod_roots, id);
  FIELD(offsets, kp_pod_roots, level);
  Napi::Object layout = Napi::Object::New(env);
  layout.Set("size", static_cast<double>(sizeof(kp_pod_roots)));
  layout.Set("offsets", offsets);
  layout.Set("maxRoots", static_cast<double>(KP_MAX_WATCHED_ROOTS));
  return layout;
}

}  // namespace

Napi::Value Layouts(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("tcp", TcpEvent(info.Env()));
  out.Set("dns", DnsEvent(info.Env()));
  out.Set("flows", FlowMap(info.Env()));
  out.Set("syscalls", SyscallMap(info.Env()));
  out.Set("podRoots", PodRoots(info.Env()));
  return out;
}

}  // namespace kubepulse
