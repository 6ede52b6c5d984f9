// EventStream: an http::ChunkSource fed from another thread (the
// scheduler's callbacks push chunks; the HTTP server pulls them). Cancel()
// — the client went away — runs the cancel action once, e.g. to free the
// request's slot in the scheduler.
//
// StreamNotifier: batches the hand-over. A stream made with a notifier does
// not wake the network thread on each Push; it joins the notifier's list,
// and Flush() — which the scheduler's thread calls after each round of
// callbacks (SchedulerOptions::after_events) — hands every listed stream to
// the network in one post. With N streams that is one wake-up per step
// instead of N; each wake-up costs the scheduler's thread tens of
// microseconds on a busy machine. A reader takes every chunk queued by then
// as one write.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "http/response.h"

namespace aperture {

class EventStream;

// Thread-safe.
class StreamNotifier {
 public:
  // post(fn) runs fn on a network thread. Until one is attached, Flush
  // delivers on the calling thread.
  using Post = std::function<void(std::function<void()>)>;
  void Attach(Post post);

  void Add(std::shared_ptr<EventStream> stream);
  // Delivers, in one post, every stream added since the last Flush.
  void Flush();

 private:
  absl::Mutex mu_;
  Post post_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<EventStream>> pending_ ABSL_GUARDED_BY(mu_);
};

// Thread-safe. Always owned by a shared_ptr (the notifier keeps streams alive until delivered).
class EventStream final : public http::ChunkSource, public std::enable_shared_from_this<EventStream> {
 public:
  // Without a notifier each Push reaches a waiting reader at once.
  explicit EventStream(StreamNotifier* notifier = nullptr) : notifier_(notifier) {}

  // Queues a chunk (ignored after Finish or Cancel).
  void Push(std::string chunk);
  // No more chunks: the body ends after those queued.
  void Finish();
  // What Cancel() does; set it before handing the stream to the server.
  void OnCancel(std::function<void()> action);

  void Next(std::function<void(std::optional<std::string>)> ready) override;
  void Cancel() override;

 private:
  friend class StreamNotifier;
  // Through the notifier when there is one, else Deliver() now.
  void Notify();
  // Hands every queued chunk, joined, (or the end) to a waiting reader, outside the lock.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu_);

  StreamNotifier* const notifier_;
  std::atomic<bool> listed_{false};  // in the notifier's list now
  absl::Mutex mu_;
  std::deque<std::string> chunks_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void(std::optional<std::string>)> waiting_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_cancel_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture
