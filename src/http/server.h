// The HTTP/1.1 server (Boost.Beast over Asio): accepts connections, enforces
// transport limits, and hands each whole request to one Handler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "http/request.h"
#include "http/response.h"

namespace aperture::http {

// An answer the transport gives itself, before any Handler runs.
struct TransportAnswer {
  int status = 0;         // 400 malformed, 408 too slow, 413, 431, 503 over max_connections
  std::string_view code;  // the error body's code, e.g. "request_timeout"
  std::string_view remote_address;
};

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see Server::port()
  int threads = 0;       // 0 = one per core
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  // Slow clients (slowloris): a request's header must be complete within
  // header_timeout of its first byte (of the connection, for a new one),
  // and its body within body_timeout of the header's end. Deadlines, not
  // timers reset by each byte: a client dribbling a byte a second is cut
  // off all the same, with 408 (a connection that sent nothing is closed
  // quietly).
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds body_timeout{30'000};
  // An idle keep-alive connection is closed after this time.
  std::chrono::milliseconds idle_timeout{30'000};
  // Connections beyond this are answered 503 at once and closed (they hold
  // their file descriptor only while the answer drains, at most 2 s).
  size_t max_connections = 4096;
  // Called on an io thread for each TransportAnswer, so that those answers
  // are recorded like every other; returns the request id the answer
  // carries as X-Request-Id. May be null. Must not throw.
  std::function<std::string(const TransportAnswer&)> on_transport_answer = nullptr;
};

// Called on a server thread for each request that passed the transport limits.
// It may block briefly (store reads, queueing work); long work belongs in a
// ChunkSource, a PendingResponse or another thread. The Request is the
// connection's, reused for its next request: the handler may move strings
// out of it. An exception escaping the handler becomes a 500 without its
// text; one escaping any other callback on an io thread (a ChunkSource, a
// PendingResponse) closes that connection, and the thread goes on.
using Handler = std::function<Response(Request&)>;

// Thread-safe. Start() returns once listening; Stop() closes the listener and
// connections (cancelling streams in progress) and joins the threads. Stop()
// waits for those threads, so it must not be called from a Handler.
class Server {
 public:
  static absl::StatusOr<std::unique_ptr<Server>> Start(ServerOptions options, Handler handler);
  virtual ~Server() = default;
  virtual uint16_t port() const = 0;
  virtual void Stop() = 0;
  // Runs fn on one of the server's threads (never, once stopped).
  virtual void Post(std::function<void()> fn) = 0;
};

}  // namespace aperture::http
