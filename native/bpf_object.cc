#include "bpf_object.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>

#include "errors.h"
#include "libbpf_log.h"

namespace kubepulse {
namespace {

std::string StringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

Napi::Buffer<uint8_t> BufferArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsBuffer())
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a Buffer");
  return info[i].As<Napi::Buffer<uint8_t>>();
}

// Bytes a lookup returns: per-CPU maps hold one 8-byte-aligned slot per CPU.
size_t ValueBytes(const bpf_map* map) {
  size_t size = bpf_map__value_size(map);
  switch (bpf_map__type(map)) {
    case BPF_MAP_TYPE_PERCPU_ARRAY:
    case BPF_MAP_TYPE_PERCPU_HASH:
    case BPF_MAP_TYPE_LRU_PERCPU_HASH:
    case BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE:
      return ((size + 7) / 8) * 8 * static_cast<size_t>(libbpf_num_possible_cpus());
    default:
      return size;
  }
}

}  // namespace

Napi::Function BpfObject::Define(Napi::Env env) {
  return DefineClass(env, "BpfObject",
                     {
                         InstanceMethod("programs", &BpfObject::Programs),
                         InstanceMethod("maps", &BpfObject::Maps),
                         InstanceMethod("setAutoload", &BpfObject::SetAutoload),
                         InstanceMethod("setMapMaxEntries", &BpfObject::SetMapMaxEntries),
                         InstanceMethod("setConst", &BpfObject::SetConst),
                         InstanceMethod("load", &BpfObject::Load),
                         InstanceMethod("attach", &BpfObject::Attach),
                         InstanceMethod("detachCgroup", &BpfObject::DetachCgroup),
                         InstanceMethod("mapLookup", &BpfObject::MapLookup),
                         InstanceMethod("mapUpdate", &BpfObject::MapUpdate),
                         InstanceMethod("mapDelete", &BpfObject::MapDelete),
                         InstanceMethod("mapDump", &BpfObject::MapDump),
                         InstanceMethod("programIds", &BpfObject::ProgramIds),
                         InstanceMethod("ringUsage", &BpfObject::RingUsage),
                         InstanceMethod("detachAll", &BpfObject::DetachAll),
                         InstanceMethod("close", &BpfObject::Close),
                     });
}

BpfObject* BpfObject::Unwrap(Napi::Value value) {
  if (!value.IsObject()) return nullptr;
  return Napi::ObjectWrap<BpfObject>::Unwrap(value.As<Napi::Object>());
}

BpfObject::BpfObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<BpfObject>(info) {
  path_ = StringArg(info, 0, "path");
  ResetLibbpfLog();
  object_ = bpf_object__open_file(path_.c_str(), nullptr);
  if (object_ == nullptr) {
    int err = errno;
    throw ErrnoError(info.Env(), "cannot open BPF object " + path_, err);
  }
}

BpfObject::~BpfObject() { CloseAll(); }

void BpfObject::RequireOpen(Napi::Env env) const {
  if (object_ == nullptr) throw Napi::Error::New(env, "BPF object " + path_ + " is closed");
}

bpf_program* BpfObject::FindProgram(const Napi::CallbackInfo& info, size_t arg) {
  RequireOpen(info.Env());
  std::string name = StringArg(info, arg, "program name");
  bpf_program* prog = bpf_object__find_program_by_name(object_, name.c_str());
  if (prog == nullptr)
    throw Napi::Error::New(info.Env(), "no program " + name + " in " + path_);
  return prog;
}

bpf_map* BpfObject::FindMap(const Napi::CallbackInfo& info, size_t arg) {
  RequireOpen(info.Env());
  std::string name = StringArg(info, arg, "map name");
  bpf_map* map = bpf_object__find_map_by_name(object_, name.c_str());
  if (map == nullptr) throw Napi::Error::New(info.Env(), "no map " + name + " in " + path_);
  return map;
}

Napi::Value BpfObject::Programs(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env());
  Napi::Array out = Napi::Array::New(info.Env());
  bpf_program* prog;
  uint32_t i = 0;
  bpf_object__for_each_program(prog, object_) {
    Napi::Object p = Napi::Object::New(info.Env());
    p.Set("name", bpf_program__name(prog));
    p.Set("section", bpf_program__section_name(prog));
    p.Set("autoload", bpf_program__autoload(prog));
    out.Set(i++, p);
  }
  return out;
}

Napi::Value BpfObject::Maps(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env());
  Napi::Array out = Napi::Array::New(info.Env());
  bpf_map* map;
  uint32_t i = 0;
  bpf_object__for_each_map(map, object_) {
    Napi::Object m = Napi::Object::New(info.Env());
    m.Set("name", bpf_map__name(map));
    m.Set("type", static_cast<double>(bpf_map__type(map)));
    m.Set("maxEntries", static_cast<double>(bpf_map__max_entries(map)));
    m.Set("keySize", static_cast<double>(bpf_map__key_size(map)));
    m.Set("valueSize", static_cast<double>(bpf_map__value_size(map)));
    out.Set(i++, m);
  }
  return out;
}

void BpfObject::SetAutoload(const Napi::CallbackInfo& info) {
  bpf_program* prog = FindProgram(info, 0);
  if (info.Length() < 2 || !info[1].IsBoolean())
    throw Napi::TypeError::New(info.Env(), "autoload must be a boolean");
  int err = bpf_program__set_autoload(prog, info[1].As<Napi::Boolean>().Value());
  if (err) throw ErrnoError(info.Env(), "cannot set autoload", err);
}

void BpfObject::SetMapMaxEntries(const Napi::CallbackInfo& info) {
  bpf_map* map = FindMap(info, 0);
  if (info.Length() < 2 || !info[1].IsNumber())
    throw Napi::TypeError::New(info.Env(), "maxEntries must be a number");
  uint32_t n = info[1].As<Napi::Number>().Uint32Value();
  int err = bpf_map__set_max_entries(map, n);
  if (err) throw ErrnoError(info.Env(), std::string("cannot size map ") + bpf_map__name(map), err);
}

// Writes a `const volatile` global before load: finds the variable in the
// object's .rodata section through its BTF and copies the bytes in.
void BpfObject::SetConst(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env());
  std::string name = StringArg(info, 0, "variable name");
  Napi::Buffer<uint8_t> value = BufferArg(info, 1, "value");
  if (loaded_) throw Napi::Error::New(info.Env(), "setConst must come before load");
  bpf_map* rodata = bpf_object__find_map_by_name(object_, ".rodata");
  const btf* btf = bpf_object__btf(object_);
  if (rodata == nullptr || btf == nullptr)
    throw Napi::Error::New(info.Env(), path_ + " has no constants section");
  int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (sec_id < 0) throw Napi::Error::New(info.Env(), path_ + " has no .rodata BTF");
  const btf_type* sec = btf__type_by_id(btf, sec_id);
  const btf_var_secinfo* vars = btf_var_secinfos(sec);
  for (int i = 0; i < btf_vlen(sec); i++) {
    const btf_type* var = btf__type_by_id(btf, vars[i].type);
    if (name != btf__name_by_offset(btf, var->name_off)) continue;
    if (value.Length() != vars[i].size)
      throw Napi::TypeError::New(info.Env(), "constant " + name + " takes " +
                                                 std::to_string(vars[i].size) + " bytes");
    size_t size = 0;
    // libbpf 1.1 declares the pointer const, but the region is the map's
    // writable initial image until load (later libbpf drops the const).
    auto* data = static_cast<uint8_t*>(const_cast<void*>(bpf_map__initial_value(rodata, &size)));
    if (data == nullptr || vars[i].offset + vars[i].size > size)
      throw Napi::Error::New(info.Env(), "cannot reach constant " + name);
    std::memcpy(data + vars[i].offset, value.Data(), value.Length());
    return;
  }
  throw Napi::Error::New(info.Env(), "no constant " + name + " in " + path_);
}

// The verifier gives up with EAGAIN when a signal is pending on the loading
// thread, and libbpf retries only a few times: under V8's CPU profiler
// (--cpu-prof, SIGPROF every millisecond) the packets program, which takes
// longer than that to verify, never loaded. So signals wait while the
// kernel verifies: one sent to this thread is delivered when the mask is
// restored, one sent to the process (SIGTERM) to another thread or then,
// and Node's handler runs when the load returns; none is lost. The signals
// a fault raises synchronously stay open: blocked, they kill silently.
void BpfObject::Load(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env());
  ResetLibbpfLog();
  sigset_t all;
  sigset_t previous;
  sigfillset(&all);
  for (int sync_signal : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT}) sigdelset(&all, sync_signal);
  pthread_sigmask(SIG_BLOCK, &all, &previous);
  int err = bpf_object__load(object_);
  pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  if (err) throw ErrnoError(info.Env(), "cannot load BPF object " + path_, err);
  loaded_ = true;
}

// attach(programName[, { cgroup: path }]): cgroup programs need the cgroup
// directory to hang from; everything else attaches by its section name.
void BpfObject::Attach(const Napi::CallbackInfo& info) {
  bpf_program* prog = FindProgram(info, 0);
  if (!loaded_) throw Napi::Error::New(info.Env(), "attach must come after load");
  std::string cgroup;
  if (info.Length() > 1 && info[1].IsObject()) {
    Napi::Value c = info[1].As<Napi::Object>().Get("cgroup");
    if (c.IsString()) cgroup = c.As<Napi::String>().Utf8Value();
  }
  ResetLibbpfLog();
  bpf_link* link;
  int cgroup_fd = -1;
  if (!cgroup.empty()) {
    int fd = open(cgroup.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) throw ErrnoError(info.Env(), "cannot open cgroup " + cgroup, errno);
    link = bpf_program__attach_cgroup(prog, fd);
    if (link == nullptr) {
      int err = errno;
      close(fd);
      throw ErrnoError(info.Env(), std::string("cannot attach ") + bpf_program__name(prog) +
                                       " to cgroup " + cgroup, err);
    }
    cgroup_fd = fd;
  } else {
    link = bpf_program__attach(prog);
    if (link == nullptr)
      throw ErrnoError(info.Env(), std::string("cannot attach ") + bpf_program__name(prog) +
                                       " (" + bpf_program__section_name(prog) + ")", errno);
  }
  links_.push_back({link, cgroup_fd, cgroup});
}

void BpfObject::DestroyLinks() {
  for (Link& l : links_) {
    bpf_link__destroy(l.link);
    if (l.cgroup_fd >= 0) close(l.cgroup_fd);
  }
  links_.clear();
}

// Detaches every program, keeping them loaded (on-demand syscall recording).
void BpfObject::DetachAll(const Napi::CallbackInfo&) { DestroyLinks(); }

// Detaches every program attached to this cgroup path (as given to attach);
// the others stay.
void BpfObject::DetachCgroup(const Napi::CallbackInfo& info) {
  std::string cgroup = StringArg(info, 0, "cgroup path");
  std::vector<Link> kept;
  for (Link& l : links_) {
    if (l.cgroup_fd >= 0 && l.cgroup == cgroup) {
      bpf_link__destroy(l.link);
      close(l.cgroup_fd);
    } else {
      kept.push_back(l);
    }
  }
  links_.swap(kept);
}

Napi::Value BpfObject::MapLookup(const Napi::CallbackInfo& info) {
  bpf_map* map = FindMap(info, 0);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  std::vector<uint8_t> value(ValueBytes(map));
  int err = bpf_map__lookup_elem(map, key.Data(), key.Length(), value.data(), value.size(), 0);
  if (err == -ENOENT) return info.Env().Null();
  if (err) throw ErrnoError(info.Env(), std::string("cannot read map ") + bpf_map__name(map), err);
  return Napi::Buffer<uint8_t>::Copy(info.Env(), value.data(), value.size());
}

void BpfObject::MapUpdate(const Napi::CallbackInfo& info) {
  bpf_map* map = FindMap(info, 0);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  Napi::Buffer<uint8_t> value = BufferArg(info, 2, "value");
  int err = bpf_map__update_elem(map, key.Data(), key.Length(), value.Data(), value.Length(), 0);
  if (err) throw ErrnoError(info.Env(), std::string("cannot write map ") + bpf_map__name(map), err);
}

void BpfObject::MapDelete(const Napi::CallbackInfo& info) {
  bpf_map* map = FindMap(info, 0);
  Napi::Buffer<uint8_t> key = BufferArg(info, 1, "key");
  int err = bpf_map__delete_elem(map, key.Data(), key.Length(), 0);
  if (err && err != -ENOENT)
    throw ErrnoError(info.Env(), std::string("cannot delete from map ") + bpf_map__name(map), err);
}

// Every entry of a map as [count, keys, values]: the keys packed in one
// Buffer, the values in another, entry i at i * size. Read in batches
// (BPF_MAP_LOOKUP_BATCH: one syscall for many entries, hash and array maps
// since Linux 5.6, below the daemon's 5.8). One Buffer per entry from
// get_next_key and a lookup each was ~7-9 µs an entry (N-API objects and
// two syscalls): 146 ms for a full flows map, on the JavaScript thread
// (bench/map-read.mjs).
Napi::Value BpfObject::MapDump(const Napi::CallbackInfo& info) {
  bpf_map* map = FindMap(info, 0);
  Napi::Env env = info.Env();
  const size_t key_size = bpf_map__key_size(map);
  const size_t value_size = ValueBytes(map);
  const size_t max_entries = std::max<size_t>(bpf_map__max_entries(map), 1);
  size_t capacity = max_entries;
  size_t count = 0;
  // Not zeroed (new[] of bytes): the kernel writes what is read.
  std::unique_ptr<uint8_t[]> keys(new uint8_t[capacity * key_size]);
  std::unique_ptr<uint8_t[]> values(new uint8_t[capacity * value_size]);
  // More room is needed only when entries were deleted and others added while
  // the map was read (a live map); a few rounds of that, and what was read is the answer.
  auto grow = [&]() {
    if (capacity >= 4 * max_entries) return false;
    std::unique_ptr<uint8_t[]> k(new uint8_t[2 * capacity * key_size]);
    std::unique_ptr<uint8_t[]> v(new uint8_t[2 * capacity * value_size]);
    std::memcpy(k.get(), keys.get(), count * key_size);
    std::memcpy(v.get(), values.get(), count * value_size);
    keys.swap(k);
    values.swap(v);
    capacity *= 2;
    return true;
  };
  // The cursor is a bucket for hash maps and a key for arrays: room for either.
  std::vector<uint8_t> in(std::max<size_t>(key_size, 8)), out(in.size());
  bool first = true;
  LIBBPF_OPTS(bpf_map_batch_opts, opts);
  for (;;) {
    if (count == capacity && !grow()) break;
    __u32 n = static_cast<__u32>(capacity - count);
    int err = bpf_map_lookup_batch(bpf_map__fd(map), first ? nullptr : in.data(), out.data(),
                                   keys.get() + count * key_size, values.get() + count * value_size, &n, &opts);
    if (err == -ENOSPC && n == 0) {
      // A hash bucket with more entries than the room left (the same race): more room, same cursor.
      if (!grow()) break;
      continue;
    }
    if (err != 0 && err != -ENOENT)
      throw ErrnoError(env, std::string("cannot read map ") + bpf_map__name(map) + " in batches", err);
    count += n;
    if (err == -ENOENT) break;  // the end of the map
    in.swap(out);
    first = false;
  }
  Napi::Array result = Napi::Array::New(env, 3);
  result.Set(0u, Napi::Number::New(env, static_cast<double>(count)));
  result.Set(1u, Napi::Buffer<uint8_t>::Copy(env, keys.get(), count * key_size));
  result.Set(2u, Napi::Buffer<uint8_t>::Copy(env, values.get(), count * value_size));
  return result;
}

// { programName: kernel program id } for the loaded programs, so that tools
// (bpftool, the benchmark's bpf_stats) can find them.
Napi::Value BpfObject::ProgramIds(const Napi::CallbackInfo& info) {
  RequireOpen(info.Env());
  Napi::Object out = Napi::Object::New(info.Env());
  bpf_program* prog;
  bpf_object__for_each_program(prog, object_) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;
    bpf_prog_info prog_info = {};
    uint32_t len = sizeof(prog_info);
    if (bpf_obj_get_info_by_fd(fd, &prog_info, &len) == 0)
      out.Set(bpf_program__name(prog), static_cast<double>(prog_info.id));
  }
  return out;
}

void BpfObject::CloseAll() {
  DestroyLinks();
  if (object_ != nullptr) bpf_object__close(object_);
  object_ = nullptr;
}

void BpfObject::Close(const Napi::CallbackInfo&) { CloseAll(); }

// { used, size } of a ring buffer map: bytes written by the kernel and not
// yet consumed, and the ring's size. libbpf 1.1 (Debian 12) has no
// ring__avail_data_size, so the two positions are read from the map's own
// pages: the consumer page (offset 0) and the producer page (offset one
// page), both mapped read-only for the moment of the read.
Napi::Value BpfObject::RingUsage(const Napi::CallbackInfo& info) {
  bpf_map* map = FindMap(info, 0);
  Napi::Env env = info.Env();
  if (bpf_map__type(map) != BPF_MAP_TYPE_RINGBUF)
    throw Napi::TypeError::New(env, std::string("map ") + bpf_map__name(map) + " is not a ring buffer");
  int fd = bpf_map__fd(map);
  if (fd < 0) throw Napi::Error::New(env, std::string("ring buffer ") + bpf_map__name(map) + " is not loaded");
  size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  void* consumer = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, 0);
  if (consumer == MAP_FAILED) throw ErrnoError(env, "cannot map the ring buffer's consumer page", -errno);
  void* producer = mmap(nullptr, page, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page));
  if (producer == MAP_FAILED) {
    int err = errno;
    munmap(consumer, page);
    throw ErrnoError(env, "cannot map the ring buffer's producer page", -err);
  }
  uint64_t cons = __atomic_load_n(static_cast<uint64_t*>(consumer), __ATOMIC_ACQUIRE);
  uint64_t prod = __atomic_load_n(static_cast<uint64_t*>(producer), __ATOMIC_ACQUIRE);
  munmap(producer, page);
  munmap(consumer, page);
  Napi::Object out = Napi::Object::New(env);
  out.Set("used", static_cast<double>(prod - cons));
  out.Set("size", static_cast<double>(bpf_map__max_entries(map)));
  return out;
}

}  // namespace kubepulse
