// Consumes the ring buffers of one or more BPF objects on a native thread
// and hands the records to JavaScript in batches: one JS call per batch,
// never one per event. A batch is a Buffer of records, each framed as
// [u32 length][u32 reserved][record bytes][padding to 8].
//
// Threads: the constructor, Start and Stop run on the JS thread; Run and
// OnRecord run on the poll thread; DeliverBatch runs on the JS thread via
// the thread-safe function.
#pragma once
#include <napi.h>

#include <atomic>
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
  void Start(const Napi::CallbackInfo& info);
  void Stop(const Napi::CallbackInfo& info);
  void StopThread();
  void Run();
  void Flush();
  static int OnRecord(void* ctx, void* data, size_t size);
  static void DeliverBatch(Napi::Env env, Napi::Function callback, std::nullptr_t*, Batch* batch);

  ring_buffer* rings_ = nullptr;
  using Deliver = Napi::TypedThreadSafeFunction<std::nullptr_t, Batch, &EventPoller::DeliverBatch>;
  Deliver typed_deliver_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  bool started_ = false;
  Batch batch_;
  size_t batch_bytes_ = 256 * 1024;
  int poll_timeout_ms_ = 100;
  int flush_interval_ms_ = 100;
};

}  // namespace kubepulse
