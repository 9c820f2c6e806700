// Consumes the ring buffers of one or more BPF objects on a native thread
// and hands the records to JavaScript in batches: one JS call per batch,
// never one per event. A batch is a Buffer of records, each framed as
// [u32 length][u32 reserved][record bytes][padding to 8].
//
// Threads: the constructor, Start, Stop and BreakPollFdForTest run on the
// JS thread; Run, OnRecord and Fail run on the poll thread; Deliver runs on
// the JS thread via the thread-safe function.
//
// While no record comes the poll thread sleeps in epoll without a timeout
// (the kernel wakes it on the first record after the rings were drained:
// records are submitted without BPF_RB_NO_WAKEUP), so an idle daemon's poll
// thread costs nothing; Stop wakes it through an eventfd.
//
// A poll that fails (anything but EINTR) is not retried: the thread hands
// what it gathered, then the error, to JavaScript — onBatch(null, error) —
// and ends. Nothing the daemon counts arrives after that, so the daemon
// must learn of it (it fails /healthz and the kubelet restarts it) rather
// than serve flat counters from a dead thread.
#pragma once
#include <napi.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

struct ring_buffer;

namespace kubepulse {

class EventPoller : public Napi::ObjectWrap<EventPoller> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit EventPoller(const Napi::CallbackInfo& info);
  ~EventPoller() override;

 private:
  using Batch = std::vector<uint8_t>;
  // What crosses to JavaScript: a batch of records, or the poll thread's
  // last word (error != 0, a negative errno, with what failed).
  struct Message {
    Batch batch;
    int error = 0;
    const char* what = nullptr;
  };
  void Start(const Napi::CallbackInfo& info);
  void Stop(const Napi::CallbackInfo& info);
  void BreakPollFdForTest(const Napi::CallbackInfo& info);
  void StopThread();
  void Wake();
  int WaitForRecords();
  bool SleepUnlessStopping(std::chrono::steady_clock::duration step);
  void Run();
  void Flush();
  void Fail(const char* what, int error);
  static int OnRecord(void* ctx, void* data, size_t size);
  static void DeliverMessage(Napi::Env env, Napi::Function callback, std::nullptr_t*, Message* message);

  ring_buffer* rings_ = nullptr;
  using Deliver = Napi::TypedThreadSafeFunction<std::nullptr_t, Message, &EventPoller::DeliverMessage>;
  Deliver typed_deliver_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  // The poll thread waits on wait_fd_ (an epoll of the rings' epoll and
  // wake_fd_); Stop and BreakPollFdForTest write wake_fd_. Between drains it
  // sleeps on sleep_cv_, which Stop notifies.
  int wait_fd_ = -1;
  int wake_fd_ = -1;
  std::mutex sleep_mutex_;
  std::condition_variable sleep_cv_;
  bool started_ = false;
  Batch batch_;
  size_t batch_bytes_ = 256 * 1024;
  /** Bytes of the smallest ring; the drain waits long only while that stays far. */
  size_t smallest_ring_bytes_ = SIZE_MAX;
  /** Record bytes read since the poll thread last woke (for the fill rate). */
  size_t gathered_ = 0;
  /** Longest wait for a first record (negative: until one comes, or Stop). */
  int poll_timeout_ms_ = -1;
  int flush_interval_ms_ = 100;
};

}  // namespace kubepulse
