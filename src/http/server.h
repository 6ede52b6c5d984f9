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

struct ServerOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 picks a free port; see Server::port()
  int threads = 0;       // 0 = one per core
  size_t max_header_bytes = 16 * 1024;
  size_t max_body_bytes = 1024 * 1024;
  // A request's header and body must both arrive within this time.
  std::chrono::milliseconds read_timeout{10'000};
  // An idle keep-alive connection is closed after this time.
  std::chrono::milliseconds idle_timeout{30'000};
  // Connections beyond this are answered 503 and closed.
  size_t max_connections = 4096;
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
