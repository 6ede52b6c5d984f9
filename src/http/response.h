// An HTTP response: a whole body, a stream of chunks (server-sent events,
// files sent from disk), or one that is not known yet (a completion waiting
// for the engine).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace aperture::http {

struct Response;

// A source of body chunks produced on other threads (e.g. tokens from the
// scheduler). The server asks for one chunk at a time; the source answers by
// calling `ready` exactly once, from any thread: a chunk, or nullopt at the end.
// If the client goes away, the server calls Cancel() (from its own thread) and
// asks for nothing more. Implementations must be thread-safe.
class ChunkSource {
 public:
  virtual ~ChunkSource() = default;
  virtual void Next(std::function<void(std::optional<std::string> chunk)> ready) = 0;
  virtual void Cancel() = 0;
};

// A response the handler cannot give yet: the server sends nothing, not
// even the status line, until `ready` is called with the whole response
// (which may be a stream, but not pending again). So an error that comes
// late (the engine failed) still gets its own status code rather than a
// 200 already sent. The server calls Wait once; the source calls `ready`
// exactly once, from any thread. If the client goes away first, the server
// calls Cancel() (from its own thread) and ignores a later `ready`.
// Implementations must be thread-safe.
class PendingResponse {
 public:
  virtual ~PendingResponse() = default;
  virtual void Wait(std::function<void(Response)> ready) = 0;
  virtual void Cancel() = 0;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;  // extra headers
  std::string body;
  // When set, `body` is ignored and the response is sent with chunked
  // transfer encoding from the source.
  std::shared_ptr<ChunkSource> stream;
  // With `stream`: the body's exact length when known in advance (a file).
  // The response then carries Content-Length instead of chunked framing (so
  // clients see the size, HTTP/1.0 connections stay open, and HEAD shows
  // it); the source must produce exactly this many bytes and then the end,
  // or the server closes the connection, cutting the body short.
  std::optional<uint64_t> stream_length;
  // When set, everything else is ignored: the response is `pending`'s.
  std::shared_ptr<PendingResponse> pending;

  Response& SetHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// The usual PendingResponse: whoever produces the answer calls Resolve()
// (the first call wins); OnCancel's action runs if the client goes away
// first.
//
// Usage:
//   auto later = std::make_shared<DeferredResponse>();
//   later->OnCancel([=] { scheduler->Cancel(id); });
//   ... on the engine's thread: later->Resolve(JsonResponse(...));
//   return LaterResponse(later);  // from the handler
//
// Thread-safe; always owned by a shared_ptr.
class DeferredResponse final : public PendingResponse {
 public:
  void Resolve(Response response);
  // Set before handing it to the server.
  void OnCancel(std::function<void()> action);

  void Wait(std::function<void(Response)> ready) override;
  void Cancel() override;

 private:
  absl::Mutex mu_;
  std::optional<std::function<void(Response)>> ready_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Response> resolved_ ABSL_GUARDED_BY(mu_);  // arrived before Wait
  bool done_ ABSL_GUARDED_BY(mu_) = false;                   // resolved or cancelled
  std::function<void()> on_cancel_ ABSL_GUARDED_BY(mu_);
};

// A response that `pending` will give.
Response LaterResponse(std::shared_ptr<PendingResponse> pending);

// OpenAI-style error body: {"error":{"message","type","code","param"}}.
Response ErrorResponse(int status, std::string_view message, std::string_view code, std::string_view param = {});

}  // namespace aperture::http
