// Entry point of the kubepulse native addon: the BPF object wrapper, the
// ring-buffer poller, kernel feature probes and the event layouts compiled
// from the same headers the BPF programs use.
#include <napi.h>

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <string>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "bpf_object.h"
#include "errors.h"
#include "event_poller.h"
#include "layouts.h"
#include "libbpf_log.h"

namespace kubepulse {
namespace {

Napi::Value LibbpfVersion(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), libbpf_version_string());
}

Napi::Value NumPossibleCpus(const Napi::CallbackInfo& info) {
  int n = libbpf_num_possible_cpus();
  if (n < 0) throw ErrnoError(info.Env(), "cannot count possible CPUs", n);
  return Napi::Number::New(info.Env(), n);
}

bool MapTypeByName(const std::string& name, bpf_map_type* out) {
  if (name == "ringbuf") *out = BPF_MAP_TYPE_RINGBUF;
  else if (name == "sk_storage") *out = BPF_MAP_TYPE_SK_STORAGE;
  else if (name == "lru_hash") *out = BPF_MAP_TYPE_LRU_HASH;
  else if (name == "percpu_array") *out = BPF_MAP_TYPE_PERCPU_ARRAY;
  else return false;
  return true;
}

bool ProgTypeByName(const std::string& name, bpf_prog_type* out) {
  if (name == "kprobe") *out = BPF_PROG_TYPE_KPROBE;
  else if (name == "tracepoint") *out = BPF_PROG_TYPE_TRACEPOINT;
  else if (name == "tracing") *out = BPF_PROG_TYPE_TRACING;
  else if (name == "cgroup_skb") *out = BPF_PROG_TYPE_CGROUP_SKB;
  else if (name == "cgroup_sock_addr") *out = BPF_PROG_TYPE_CGROUP_SOCK_ADDR;
  else if (name == "raw_tracepoint") *out = BPF_PROG_TYPE_RAW_TRACEPOINT;
  else return false;
  return true;
}

// probeMapType(name) -> boolean: can this kernel create such a map?
// Throws (EPERM) when the caller may not use BPF at all.
Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "map type name must be a string");
  bpf_map_type type;
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!MapTypeByName(name, &type)) throw Napi::TypeError::New(info.Env(), "unknown map type " + name);
  int ret = libbpf_probe_bpf_map_type(type, nullptr);
  if (ret < 0) throw ErrnoError(info.Env(), "cannot probe map type " + name, ret);
  return Napi::Boolean::New(info.Env(), ret == 1);
}

Napi::Value ProbeProgType(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "program type name must be a string");
  bpf_prog_type type;
  std::string name = info[0].As<Napi::String>().Utf8Value();
  if (!ProgTypeByName(name, &type)) throw Napi::TypeError::New(info.Env(), "unknown program type " + name);
  int ret = libbpf_probe_bpf_prog_type(type, nullptr);
  if (ret < 0) throw ErrnoError(info.Env(), "cannot probe program type " + name, ret);
  return Napi::Boolean::New(info.Env(), ret == 1);
}

// trimNativeMemory() -> Promise<boolean>: gives the C library's free pages
// back to the system. glibc returns memory freed in the arenas of threads
// other than the main one (V8's GC helpers, the poll thread, libuv's pool)
// only from the top of each arena; malloc_trim(0) releases the free pages
// of every arena. On libuv's pool, not the JavaScript thread: a trim of
// tens of MiB takes ~10 ms. True if any memory was released; false where
// the C library is not glibc.
class TrimWorker : public Napi::AsyncWorker {
 public:
  explicit TrimWorker(Napi::Env env) : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  void Execute() override {
#ifdef __GLIBC__
    released_ = malloc_trim(0) == 1;
#endif
  }
  void OnOK() override { deferred_.Resolve(Napi::Boolean::New(Env(), released_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  bool released_ = false;
};

Napi::Value TrimNativeMemory(const Napi::CallbackInfo& info) {
  auto* worker = new TrimWorker(info.Env());  // deletes itself when done
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

}  // namespace
}  // namespace kubepulse

static Napi::Object InitKubepulse(Napi::Env env, Napi::Object exports) {
  using namespace kubepulse;
  InstallLibbpfLog();
  exports.Set("BpfObject", BpfObject::Define(env));
  exports.Set("EventPoller", EventPoller::Define(env));
  exports.Set("libbpfVersion", Napi::Function::New(env, LibbpfVersion));
  exports.Set("numPossibleCpus", Napi::Function::New(env, NumPossibleCpus));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("probeProgType", Napi::Function::New(env, ProbeProgType));
  exports.Set("layouts", Napi::Function::New(env, Layouts));
  exports.Set("trimNativeMemory", Napi::Function::New(env, TrimNativeMemory));
  return exports;
}

NODE_API_MODULE(kubepulse, InitKubepulse)
