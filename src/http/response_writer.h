// Serializes response heads and chunked-encoding framing straight into a
// reused byte buffer: the server writes these bytes with one gather write,
// so there is no per-response Beast message or serializer to build.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "http/response.h"

namespace aperture::http {

// How the body after the head is delimited.
enum class BodyFraming {
  kLength,      // Content-Length: body_length
  kChunked,     // Transfer-Encoding: chunked
  kUntilClose,  // neither; the body ends when the connection closes (HTTP/1.0 streams)
  kNone,        // 1xx, 204 and 304 carry no body and no length
};

// True for statuses that never carry a body.
bool StatusHasNoBody(int status);

// The standard reason phrase, or "Unknown" for a code without one.
std::string_view ReasonPhrase(int status);

// Empty when every extra header of `response` is a valid token name with a
// value free of CR, LF and NUL; otherwise says which one is not (the server
// answers 500 rather than let a handler split the response).
std::string CheckResponseHeaders(const Response& response);

// Appends the status line and header block (ending in the blank line) to
// *out: Server, Date, Content-Type (when non-empty), the framing header,
// Connection as `keep_alive` and `version` require, then the extra headers
// of `response` except the framing and Connection headers the server owns.
// Thread-safe.
void AppendResponseHead(const Response& response, int version, BodyFraming framing, size_t body_length, bool keep_alive,
                        std::string* out);

// Appends the chunk-size line "<hex>\r\n" to *out.
void AppendChunkSize(size_t size, std::string* out);

// True when `response` asks for the connection to close ("Connection: close"
// among its extra headers).
bool WantsClose(const Response& response);

}  // namespace aperture::http
