// Case-insensitive ASCII comparison and lower-casing, for protocol tokens
// (header names, transfer codings, type names): abseil's functions, taking
// std::string_view (Debian's abseil has a string_view of its own). Bytes
// outside A-Z are compared and kept as they are, so UTF-8 passes unchanged.
//
// Usage:
//   if (EqualsIgnoreCase(value, "chunked")) ...
//   AssignLower(name, &out);  // out = lower-cased name, reusing out's storage
//
// Thread-safe (pure functions).
#pragma once

#include <string>
#include <string_view>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace aperture {

inline absl::string_view AbslView(std::string_view s) { return absl::string_view(s.data(), s.size()); }

inline bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(AbslView(a), AbslView(b));
}

inline bool StartsWithIgnoreCase(std::string_view text, std::string_view prefix) {
  return absl::StartsWithIgnoreCase(AbslView(text), AbslView(prefix));
}

// *out = `in` lower-cased (ASCII letters only).
inline void AssignLower(std::string_view in, std::string* out) {
  out->assign(in.data(), in.size());
  absl::AsciiStrToLower(out);
}

inline std::string AsciiLower(std::string_view in) {
  std::string out;
  AssignLower(in, &out);
  return out;
}

}  // namespace aperture
