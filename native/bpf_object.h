// A BPF object file opened with libbpf: the thin wrapper JavaScript drives
// through open -> configure (autoload, map sizes, constants) -> load ->
// attach -> read maps -> close. Every method runs on the JS thread.
#pragma once
#include <napi.h>

#include <string>
#include <vector>

struct bpf_object;
struct bpf_link;
struct bpf_program;
struct bpf_map;

namespace kubepulse {

class BpfObject : public Napi::ObjectWrap<BpfObject> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;

  bpf_object* object() const { return object_; }
  static BpfObject* Unwrap(Napi::Value value);

 private:
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  void SetAutoload(const Napi::CallbackInfo& info);
  void SetMapMaxEntries(const Napi::CallbackInfo& info);
  void SetConst(const Napi::CallbackInfo& info);
  void Load(const Napi::CallbackInfo& info);
  void Attach(const Napi::CallbackInfo& info);
  void DetachCgroup(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  void MapUpdate(const Napi::CallbackInfo& info);
  void MapDelete(const Napi::CallbackInfo& info);
  Napi::Value MapDump(const Napi::CallbackInfo& info);
  Napi::Value ProgramIds(const Napi::CallbackInfo& info);
  Napi::Value RingUsage(const Napi::CallbackInfo& info);
  void DetachAll(const Napi::CallbackInfo& info);
  void Close(const Napi::CallbackInfo& info);

  void CloseAll();
  void DestroyLinks();
  void RequireOpen(Napi::Env env) const;
  bpf_program* FindProgram(const Napi::CallbackInfo& info, size_t arg);
  bpf_map* FindMap(const Napi::CallbackInfo& info, size_t arg);

  std::string path_;
  bpf_object* object_ = nullptr;
  bool loaded_ = false;
  struct Link {
    bpf_link* link;
    int cgroup_fd;       // -1 unless attached to a cgroup
    std::string cgroup;  // the cgroup's path, as given
  };
  std::vector<Link> links_;
};

}  // namespace kubepulse
