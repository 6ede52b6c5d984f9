#include "backends/sse_parser.h"

#include "fmt/format.h"

namespace aperture::backends {

void SseParser::EndLine(std::vector<std::string>& events) {
  if (line_.empty()) {  // a blank line dispatches the event
    if (has_data_) events.push_back(std::move(data_));
    data_.clear();
    has_data_ = false;
    return;
  }
  std::string_view line(line_);
  std::string_view field = line, value;
  if (const size_t colon = line.find(':'); colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (value.starts_with(' ')) value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  }
  // Comments (empty field), event, id, retry and unknown fields are dropped.
  line_.clear();
}

absl::Status SseParser::Feed(std::string_view bytes, std::vector<std::string>& events) {
  if (failed_) return absl::FailedPreconditionError("the event stream was already abandoned");
  for (char c : bytes) {
    if (c == '\n' && after_cr_) {  // the LF of a CRLF whose CR ended the line
      after_cr_ = false;
      continue;
    }
    after_cr_ = c == '\r';
    if (c == '\n' || c == '\r') {
      EndLine(events);
      continue;
    }
    line_ += c;
    if (line_.size() + data_.size() > max_) {
      failed_ = true;
      return absl::ResourceExhaustedError(
          fmt::format("an event of the backend's stream is larger than the limit of {} bytes", max_));
    }
  }
  return absl::OkStatus();
}

}  // namespace aperture::backends
