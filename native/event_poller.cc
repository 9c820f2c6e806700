#include "event_poller.h"

#include <bpf/libbpf.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>

#include "bpf_object.h"
#include "errors.h"
#include "libbpf_log.h"

namespace kubepulse {
namespace {

constexpr size_t kFrameHeader = 8;

uint32_t NumberOption(const Napi::Object& options, const char* name, uint32_t fallback) {
  Napi::Value v = options.Get(name);
  return v.IsNumber() ? v.As<Napi::Number>().Uint32Value() : fallback;
}

}  // namespace

Napi::Function EventPoller::Define(Napi::Env env) {
  return DefineClass(env, "EventPoller",
                     {
                         InstanceMethod("start", &EventPoller::Start),
                         InstanceMethod("stop", &EventPoller::Stop),
                         InstanceMethod("breakPollFdForTest", &EventPoller::BreakPollFdForTest),
                     });
}

// new EventPoller(sources: Array<[BpfObject, mapName]>, onBatch(buffer | null, error?), options?)
EventPoller::EventPoller(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EventPoller>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsArray() || !info[1].IsFunction())
    throw Napi::TypeError::New(env, "EventPoller(sources, onBatch[, options]) expects an array and a function");
  if (info.Length() > 2 && info[2].IsObject()) {
    Napi::Object options = info[2].As<Napi::Object>();
    batch_bytes_ = NumberOption(options, "batchBytes", batch_bytes_);
    poll_timeout_ms_ = static_cast<int>(NumberOption(options, "pollTimeoutMs", poll_timeout_ms_));
    flush_interval_ms_ = static_cast<int>(NumberOption(options, "flushIntervalMs", flush_interval_ms_));
  }
  uint32_t max_queued = 8;
  if (info.Length() > 2 && info[2].IsObject())
    max_queued = NumberOption(info[2].As<Napi::Object>(), "maxQueuedBatches", max_queued);

  Napi::Array sources = info[0].As<Napi::Array>();
  for (uint32_t i = 0; i < sources.Length(); i++) {
    Napi::Value pair = sources.Get(i);
    if (!pair.IsArray()) throw Napi::TypeError::New(env, "each source is [BpfObject, mapName]");
    BpfObject* object = BpfObject::Unwrap(pair.As<Napi::Array>().Get(0u));
    Napi::Value map_name = pair.As<Napi::Array>().Get(1u);
    if (object == nullptr || object->object() == nullptr || !map_name.IsString())
      throw Napi::TypeError::New(env, "each source is [open BpfObject, mapName]");
    std::string name = map_name.As<Napi::String>().Utf8Value();
    bpf_map* map = bpf_object__find_map_by_name(object->object(), name.c_str());
    if (map == nullptr || bpf_map__fd(map) < 0)
      throw Napi::Error::New(env, "no loaded ring buffer " + name);
    smallest_ring_bytes_ = std::min<size_t>(smallest_ring_bytes_, bpf_map__max_entries(map));
    ResetLibbpfLog();
    int err = 0;
    if (rings_ == nullptr) {
      rings_ = ring_buffer__new(bpf_map__fd(map), &EventPoller::OnRecord, this, nullptr);
      if (rings_ == nullptr) err = errno;
    } else {
      err = -ring_buffer__add(rings_, bpf_map__fd(map), &EventPoller::OnRecord, this);
    }
    if (err) throw ErrnoError(env, "cannot open ring buffer " + name, err);
  }
  if (rings_ == nullptr) throw Napi::Error::New(env, "EventPoller needs at least one ring buffer");
  wake_fd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) throw ErrnoError(env, "cannot create the poller's eventfd", -errno);
  wait_fd_ = epoll_create1(EPOLL_CLOEXEC);
  if (wait_fd_ < 0) throw ErrnoError(env, "cannot create the poller's epoll", -errno);
  for (int fd : {ring_buffer__epoll_fd(rings_), wake_fd_}) {
    epoll_event e{};
    e.events = EPOLLIN;
    e.data.fd = fd;
    if (epoll_ctl(wait_fd_, EPOLL_CTL_ADD, fd, &e) < 0) throw ErrnoError(env, "cannot watch the ring buffers", -errno);
  }
  batch_.reserve(batch_bytes_ + 4096);
  typed_deliver_ = Deliver::New(env, info[1].As<Napi::Function>(), "kubepulse-events", max_queued, 1);
}

EventPoller::~EventPoller() {
  StopThread();
  if (rings_ != nullptr) ring_buffer__free(rings_);
  if (wait_fd_ >= 0) close(wait_fd_);
  if (wake_fd_ >= 0) close(wake_fd_);
}

void EventPoller::Start(const Napi::CallbackInfo& info) {
  if (started_) throw Napi::Error::New(info.Env(), "poller already started");
  started_ = true;
  thread_ = std::thread(&EventPoller::Run, this);
}

void EventPoller::Stop(const Napi::CallbackInfo&) { StopThread(); }

// For tests of the failure path: points the rings' epoll fd at /dev/null,
// so the poll thread's next ring_buffer__poll really fails (EINVAL: not an
// epoll fd) and the thread takes the same path any kernel error would. dup2
// rather than close: the number stays taken, so ring_buffer__free's close
// later cannot hit someone else's fd. The epoll the thread sleeps in loses
// the replaced file with it, so the thread is woken to find out.
void EventPoller::BreakPollFdForTest(const Napi::CallbackInfo& info) {
  int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (null_fd < 0) throw ErrnoError(info.Env(), "cannot open /dev/null", errno);
  int err = dup3(null_fd, ring_buffer__epoll_fd(rings_), O_CLOEXEC) < 0 ? errno : 0;
  close(null_fd);
  if (err) throw ErrnoError(info.Env(), "cannot replace the poll fd", err);
  Wake();
}

// Any thread: the poll thread's wait returns.
void EventPoller::Wake() {
  uint64_t one = 1;
  ssize_t written = write(wake_fd_, &one, sizeof(one));
  (void)written;  // EAGAIN: already awake-pending, which is all we want
}

// Abort first: the poll thread may be blocked handing a batch to a JS
// thread that is now waiting here for it, and abort releases it.
void EventPoller::StopThread() {
  {
    // Under the lock, so a poll thread about to sleep sees it or is notified.
    std::lock_guard<std::mutex> lock(sleep_mutex_);
    if (stopping_.exchange(true)) return;
  }
  if (typed_deliver_) typed_deliver_.Abort();
  sleep_cv_.notify_all();
  if (wake_fd_ >= 0) Wake();
  if (thread_.joinable()) thread_.join();
}

// Poll thread: until a ring has a record, Stop or a test wakes it, or
// poll_timeout_ms_ passes. 0 or more on success, a negative errno on error.
int EventPoller::WaitForRecords() {
  epoll_event events[2];
  int n = epoll_wait(wait_fd_, events, 2, poll_timeout_ms_ < 0 ? -1 : poll_timeout_ms_);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  for (int i = 0; i < n; i++) {
    if (events[i].data.fd != wake_fd_) continue;
    uint64_t count;
    ssize_t got = read(wake_fd_, &count, sizeof(count));
    (void)got;
  }
  return n;
}

// Poll thread: sleeps for step unless Stop comes first; false when stopping.
bool EventPoller::SleepUnlessStopping(std::chrono::steady_clock::duration step) {
  std::unique_lock<std::mutex> lock(sleep_mutex_);
  return !sleep_cv_.wait_for(lock, step, [this] { return stopping_.load(); });
}

// Poll thread. Sleeps until the first record (no timer while idle), then
// gathers for flush_interval_ms before handing the batch to JavaScript: a JS
// call costs far more than a record, so a busy ring goes across in few large
// batches (the benchmark measured half the daemon CPU at 100 ms rather than
// 10 ms). Meanwhile the rings are drained often enough that waiting never
// fills them: at the rate records arrived since the wake, a drain comes
// before the smallest ring is a quarter full, at least every kDrainStepMs.
// At ordinary rates that is one sleep to the flush (two thread wake-ups per
// interval, not eleven).
void EventPoller::Run() {
  constexpr int kDrainStepMs = 10;
  using Clock = std::chrono::steady_clock;
  pthread_setname_np(pthread_self(), "kp-events");  // so per-thread CPU can name it
  while (!stopping_.load()) {
    gathered_ = 0;
    int ready = WaitForRecords();
    if (ready < 0) return Fail("ring buffer poll failed", ready);
    if (stopping_.load()) break;
    // Through the rings' own epoll (not a blind consume): its errors are the poller's.
    int n = ring_buffer__poll(rings_, 0);
    if (n < 0 && n != -EINTR) return Fail("ring buffer poll failed", n);
    if (batch_.empty()) continue;
    auto woke = Clock::now();
    auto deadline = woke + std::chrono::milliseconds(flush_interval_ms_);
    while (!stopping_.load() && batch_.size() < batch_bytes_) {
      auto now = Clock::now();
      if (now >= deadline) break;
      auto step = std::chrono::duration_cast<Clock::duration>(std::chrono::milliseconds(kDrainStepMs));
      double seconds = std::chrono::duration<double>(now - woke).count();
      if (seconds > 0 && gathered_ > 0) {
        double to_quarter = (static_cast<double>(smallest_ring_bytes_) / 4) / (static_cast<double>(gathered_) / seconds);
        auto safe = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(to_quarter));
        if (safe > step) step = safe;
      }
      if (step > deadline - now) step = deadline - now;
      if (!SleepUnlessStopping(step)) break;
      int consumed = ring_buffer__consume(rings_);
      if (consumed < 0) return Fail("ring buffer read failed", consumed);
    }
    Flush();
  }
}

// Poll thread, on its way out: what was gathered still goes across, then
// the error. When stopping, JavaScript asked for the end and needs no news.
void EventPoller::Fail(const char* what, int error) {
  Flush();
  if (stopping_.load()) return;
  auto* message = new Message();
  message->error = error;
  message->what = what;
  if (typed_deliver_.BlockingCall(message) != napi_ok) delete message;
}

int EventPoller::OnRecord(void* ctx, void* data, size_t size) {
  auto* self = static_cast<EventPoller*>(ctx);
  self->gathered_ += size;
  size_t at = self->batch_.size();
  size_t padded = (size + 7) & ~size_t{7};
  self->batch_.resize(at + kFrameHeader + padded);
  uint8_t* frame = self->batch_.data() + at;
  uint32_t length = static_cast<uint32_t>(size);
  std::memcpy(frame, &length, sizeof(length));
  std::memset(frame + 4, 0, 4 + (padded - size));
  std::memcpy(frame + kFrameHeader, data, size);
  if (self->batch_.size() >= self->batch_bytes_) self->Flush();
  return 0;
}

void EventPoller::Flush() {
  if (batch_.empty()) return;
  auto* out = new Message();
  out->batch.reserve(batch_bytes_ + 4096);
  out->batch.swap(batch_);
  if (typed_deliver_.BlockingCall(out) != napi_ok) delete out;
}

void EventPoller::DeliverMessage(Napi::Env env, Napi::Function callback, std::nullptr_t*, Message* message) {
  if (env == nullptr) {  // torn down with messages still queued
    delete message;
    return;
  }
  if (message->error != 0) {
    Napi::Error error = ErrnoError(env, message->what, message->error);
    delete message;
    callback.Call({env.Null(), error.Value()});
    return;
  }
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::New(
      env, message->batch.data(), message->batch.size(), [](Napi::Env, uint8_t*, Message* owned) { delete owned; }, message);
  callback.Call({buffer});
}

}  // namespace kubepulse
