// SseParser: reads a server-sent event stream (the text/event-stream a
// backend answers a streamed completion with) as it arrives, in pieces cut
// anywhere, and gives back the data of each complete event. Only `data:`
// fields matter for the OpenAI protocol; comments (`:`), `event:`, `id:`
// and `retry:` lines are read and dropped. Lines end with LF, CRLF or CR
// (the three endings the SSE grammar allows), also when the ending is split
// between two pieces.
//
// Limits: an event's data (or a line) longer than `max_event_bytes` is an
// error (ResourceExhausted) and the parser is unusable afterwards: the
// stream must be abandoned. Bytes are not checked for UTF-8 here; the JSON
// parser of each event is.
//
// Usage:
//   SseParser parser(1 << 20);
//   std::vector<std::string> events;
//   RETURN_IF_ERROR(parser.Feed(bytes, events));
//   for (const std::string& data : events) { ... "[DONE]" or a JSON chunk ... }
//
// Thread-safety: not thread-safe; one parser per stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace aperture::backends {

class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes) : max_(max_event_bytes) {}

  // Appends the data of every event that `bytes` completes to `events`.
  absl::Status Feed(std::string_view bytes, std::vector<std::string>& events);
  // Whether an event has begun and not ended (the stream stopped mid-event).
  bool in_event() const { return !line_.empty() || has_data_; }

 private:
  void EndLine(std::vector<std::string>& events);

  const size_t max_;
  std::string line_;  // the line being read
  std::string data_;  // the event's data so far
  bool has_data_ = false;
  bool after_cr_ = false;  // the last byte was CR: an LF next ends nothing more
  bool failed_ = false;
};

}  // namespace aperture::backends
