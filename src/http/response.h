// An HTTP response: a whole body, or a stream of chunks (server-sent events,
// files sent from disk).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace aperture::http {

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

  Response& SetHeader(std::string name, std::string value) {
    headers.emplace_back(std::move(name), std::move(value));
    return *this;
  }
};

// OpenAI-style error body: {"error":{"message","type","code","param"}}.
Response ErrorResponse(int status, std::string_view message, std::string_view code, std::string_view param = {});

}  // namespace aperture::http
