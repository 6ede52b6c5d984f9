// Reads eval suites: JSONL items (one JSON object per line) plus metadata in
// a sidecar TOML file or in a header line. Every problem is an
// InvalidArgument error naming the file and line, and a suite with any
// problem loads nothing. Formats in docs/evals.md. Thread-safe (pure).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "evals/suite.h"

namespace aperture::evals {

// Limits on outside input.
inline constexpr size_t kMaxSuiteBytes = size_t{256} << 20;
inline constexpr size_t kMaxSuiteLineBytes = size_t{1} << 20;
inline constexpr size_t kMaxSuiteItems = 1'000'000;
inline constexpr size_t kMaxSidecarBytes = size_t{64} << 10;
inline constexpr int kMaxChoices = 32;

// Parses a suite. `sidecar_toml` is the sidecar's text when there is one;
// otherwise the first non-blank line must be the header
// {"suite": {"name": ..., "domain": ..., "version": ...}}. `source` names
// the JSONL file in errors (the sidecar is named by SidecarPathFor(source)).
absl::StatusOr<Suite> ParseSuite(std::string_view jsonl, std::optional<std::string_view> sidecar_toml,
                                 std::string_view source);

// Reads `path` and its sidecar (SidecarPathFor(path), when that file exists)
// and parses them. NotFound when `path` does not exist.
absl::StatusOr<Suite> LoadSuite(const std::string& path);

// "x/suite.jsonl" -> "x/suite.toml"; a path not ending in .jsonl gets ".toml" appended.
std::string SidecarPathFor(std::string_view jsonl_path);

}  // namespace aperture::evals
