// Byte ranges of a download (RFC 9110 sections 14.1.2, 14.2, 13.1.5): the
// Range header reduced to one satisfiable range or a refusal, and the
// If-Range test that decides whether a resumed download may continue.
//
// Only single ranges are served: "bytes=first-last", "bytes=first-" and
// "bytes=-suffix". A header of another range unit is ignored (the whole file
// is sent), as RFC 9110 requires; a malformed "bytes=" header or one asking
// for several ranges is refused with a message; a range starting at or past
// the end is unsatisfiable (416). Numbers are bounded (at most 19 digits), so
// no input overflows.
//
// Usage:
//   RangeRequest r = ParseRange(*request.Header("Range"), file_size);
//   if (r.kind == RangeKind::kSatisfiable) serve [r.first, r.last];
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace aperture::distribution {

enum class RangeKind {
  kWhole,          // no usable range: send the whole file (200)
  kSatisfiable,    // send [first, last] (206)
  kUnsatisfiable,  // nothing of the file is in the range (416)
  kMalformed,      // refuse with `error` (400)
};

struct RangeRequest {
  RangeKind kind = RangeKind::kWhole;
  uint64_t first = 0;  // inclusive
  uint64_t last = 0;   // inclusive; last < size
  std::string error;   // for kMalformed

  uint64_t length() const { return kind == RangeKind::kSatisfiable ? last - first + 1 : 0; }
};

// The range a Range header value asks for in a representation of `size` bytes.
RangeRequest ParseRange(std::string_view header, uint64_t size);

// "bytes first-last/size" for a 206, "bytes */size" for a 416.
std::string ContentRange(const RangeRequest& range, uint64_t size);

// The strong entity tag of a file with this SHA-256 (hex): "\"<hex>\"".
std::string StrongEtag(std::string_view sha256_hex);

// Whether an If-Range value lets a range request go ahead: only the strong
// entity tag of the current file does (a weak tag, a date or anything else
// means "send the whole file", RFC 9110 13.1.5).
bool IfRangeAllows(std::string_view if_range, std::string_view current_etag);

}  // namespace aperture::distribution
