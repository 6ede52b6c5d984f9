// Human and machine forms of times and durations: RFC 3339 and "30d" / "12h".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aperture {

// "2026-11-23T08:40:03Z" for seconds since the epoch.
std::string FormatRfc3339(int64_t unix_seconds);

// Parses a duration such as "90s", "15m", "12h", "30d", "2w" into seconds.
// A bare number is seconds. Rejects zero, negatives, overflow and unknown units.
absl::StatusOr<int64_t> ParseDurationSeconds(std::string_view text);

}  // namespace aperture
