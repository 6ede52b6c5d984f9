// State the server shares with its connections: options, the handler, the
// registry of live connections (for Stop() and the timeout sweep) and the
// gate that stream callbacks pass through. Internal to src/http.
#pragma once

#include <atomic>
#include <cstddef>
#include <memory>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "http/server.h"

namespace aperture::http {

class Session;

// ChunkSource callbacks may run on any thread at any time, even after the
// server is gone; they post to a connection only while the gate is open.
// Stop() closes it (under the writer lock), so no callback can touch the
// io_context once its threads are joined. Thread-safe.
struct StreamGate {
  absl::Mutex mu;
  bool open ABSL_GUARDED_BY(mu) = true;
};

// Thread-safe.
class ServerCore {
 public:
  ServerCore(ServerOptions options, Handler handler)
      : options_(std::move(options)), handler_(std::move(handler)), gate_(std::make_shared<StreamGate>()) {}

  const ServerOptions& options() const { return options_; }
  const Handler& handler() const { return handler_; }
  const std::shared_ptr<StreamGate>& gate() const { return gate_; }

  // Adds a connection; `counted` ones count against max_connections.
  // Returns false once Stop() has begun: the connection must close at once.
  bool Register(Session* session, bool counted) {
    absl::MutexLock lock(&mu_);
    if (stopping_) return false;
    sessions_.insert(session);
    if (counted) active_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  void Unregister(Session* session, bool counted) {
    absl::MutexLock lock(&mu_);
    if (sessions_.erase(session) != 0 && counted) {
      active_.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Connections counted against max_connections.
  size_t active() const { return active_.load(std::memory_order_relaxed); }

  // Calls fn(Session*) for every registered connection, under the registry
  // lock: fn must not register or unregister connections.
  template <typename Fn>
  void ForEach(Fn fn) {
    absl::MutexLock lock(&mu_);
    for (Session* session : sessions_) fn(session);
  }

  // Refuses further registrations; returns whether this call began stopping.
  bool BeginStop() {
    absl::MutexLock lock(&mu_);
    bool first = !stopping_;
    stopping_ = true;
    return first;
  }

 private:
  const ServerOptions options_;
  const Handler handler_;
  const std::shared_ptr<StreamGate> gate_;
  absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::unordered_set<Session*> sessions_ ABSL_GUARDED_BY(mu_);
  std::atomic<size_t> active_{0};
};

}  // namespace aperture::http
