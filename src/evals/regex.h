// A compiled PCRE2 pattern for the regex scorer: UTF-8, unanchored search,
// with match and depth limits so a pathological pattern from a suite file
// cannot run away. Thread-safe after Compile (each Search uses its own
// match data).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aperture::evals {

class Regex {
 public:
  // InvalidArgument naming the offset and PCRE2's reason for a bad pattern.
  static absl::StatusOr<Regex> Compile(std::string_view pattern);

  // Whether the pattern matches anywhere in `text`. Text that is not valid
  // UTF-8 is searched in its valid parts; a search that hits the limits
  // counts as no match.
  bool Search(std::string_view text) const;

 private:
  struct Code;
  explicit Regex(std::shared_ptr<const Code> code) : code_(std::move(code)) {}
  std::shared_ptr<const Code> code_;
};

}  // namespace aperture::evals
