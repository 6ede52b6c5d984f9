// EventStream: an http::ChunkSource fed from another thread (the
// scheduler's callbacks push chunks; the HTTP server pulls them). Cancel()
// — the client went away — runs the cancel action once, e.g. to free the
// request's slot in the scheduler.
#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "http/response.h"

namespace aperture {

// Thread-safe.
class EventStream final : public http::ChunkSource {
 public:
  // Queues a chunk (ignored after Finish or Cancel).
  void Push(std::string chunk);
  // No more chunks: the body ends after those queued.
  void Finish();
  // What Cancel() does; set it before handing the stream to the server.
  void OnCancel(std::function<void()> action);

  void Next(std::function<void(std::optional<std::string>)> ready) override;
  void Cancel() override;

 private:
  // Hands the next chunk (or the end) to a waiting reader, outside the lock.
  void Deliver() ABSL_LOCKS_EXCLUDED(mu_);

  absl::Mutex mu_;
  std::deque<std::string> chunks_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void(std::optional<std::string>)> waiting_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_cancel_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture
