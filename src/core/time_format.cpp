#include "core/time_format.h"

#include <ctime>
#include <limits>

#include "fmt/format.h"

namespace aperture {

std::string FormatRfc3339(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

absl::StatusOr<int64_t> ParseDurationSeconds(std::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("empty duration");
  int64_t unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 's':
      unit = 1;
      break;
    case 'm':
      unit = 60;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'd':
      unit = 86400;
      break;
    case 'w':
      unit = 7 * 86400;
      break;
    default:
      if (text.back() < '0' || text.back() > '9') {
        return absl::InvalidArgumentError(
            fmt::format("duration '{}' has an unknown unit; use s, m, h, d or w (e.g. 30d)", text));
      }
      digits = text;
      unit = 1;
  }
  if (text.back() < '0' || text.back() > '9') digits = text.substr(0, text.size() - 1);
  if (digits.empty() || digits.size() > 12) {
    return absl::InvalidArgumentError(fmt::format("duration '{}' is not a number of units", text));
  }
  int64_t n = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(fmt::format("duration '{}' is not a number of units", text));
    }
    n = n * 10 + (c - '0');
  }
  if (n == 0) return absl::InvalidArgumentError("duration must be positive");
  if (n > std::numeric_limits<int64_t>::max() / unit) {
    return absl::InvalidArgumentError(fmt::format("duration '{}' is too long", text));
  }
  return n * unit;
}

}  // namespace aperture
