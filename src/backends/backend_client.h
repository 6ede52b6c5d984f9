// BackendClient: the asynchronous HTTP/1.1 client (Boost.Beast) Aperture
// uses to talk to remote OpenAI-compatible backends. An exchange sends one
// request and hands back the answer's head, then its body in pieces as they
// arrive (a streamed completion, event by event), under three deadlines: to
// connect, for the head after the request is sent, and between two pieces
// of the body. Connections are kept alive and reused per backend; a reused
// connection the backend had closed meanwhile is replaced once, unseen.
//
// Limits: http only (core/http_url.h); the body is handed on as it comes, so
// its size is the handler's to bound (it returns false to stop). Each
// exchange runs on one of the client's threads (`threads`, 2 by default),
// where its callbacks run too, one at a time: they must not block.
//
// Usage:
//   BackendClient client;
//   auto exchange = client.Start(url, {"POST", "/v1/chat/completions", body, token}, timeouts,
//                                {.on_head = ..., .on_body = ..., .on_done = ...});
//   exchange->Cancel();  // the caller went away
//
// Lifetime: an exchange refers to the client; destroy the client only after
// whoever holds exchanges (the HTTP server's streams) is gone.
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "core/http_url.h"

namespace aperture::backends {

struct ExchangeRequest {
  std::string method = "POST";
  std::string target;  // path and query, after the backend's prefix: "/v1/chat/completions"
  std::string body;    // JSON, or "" (a GET)
  std::string bearer;  // the Authorization token; "" = none
};

struct ExchangeTimeouts {
  std::chrono::milliseconds connect{2000};
  std::chrono::milliseconds head{60000};  // from sending the request to the answer's head
  std::chrono::milliseconds idle{30000};  // between two pieces of the body
};

struct ExchangeHandler {
  // The answer's status and Content-Type, once, before any body piece.
  std::function<void(int status, const std::string& content_type)> on_head;
  // A piece of the body (chunked framing removed). Returning false stops the
  // exchange (on_done then gets Cancelled).
  std::function<bool(std::string_view piece)> on_body;
  // Exactly once, last: OK once the whole body was read; Unavailable (could
  // not resolve, connect, send or read), DeadlineExceeded (a deadline
  // passed) or Cancelled otherwise.
  std::function<void(absl::Status status)> on_done;
};

// A running exchange.
class Exchange {
 public:
  virtual ~Exchange() = default;
  // Ends it now (the caller lost interest): the connection is closed and
  // on_done, if not called yet, gets Cancelled.
  virtual void Cancel() = 0;
};

class BackendClient {
 public:
  explicit BackendClient(int threads = 2, size_t max_idle_per_backend = 8);
  // Stop(), then frees the connections.
  ~BackendClient();
  // Stops the threads: no callback runs after it returns; exchanges still
  // running are abandoned. Idempotent.
  void Stop();
  BackendClient(const BackendClient&) = delete;
  BackendClient& operator=(const BackendClient&) = delete;

  std::shared_ptr<Exchange> Start(const HttpUrl& url, ExchangeRequest request, ExchangeTimeouts timeouts,
                                  ExchangeHandler handler);

  struct Worker;

 private:
  const size_t max_idle_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::atomic<size_t> next_{0};
};

}  // namespace aperture::backends
