// The release level applied to every parameter of a completion: a request
// that asks for more than its level allows is refused (403) naming the
// parameter and the lowest level that allows it — never silently clamped,
// except max_tokens, which is clamped and reported.
#pragma once

#include <cstdint>

#include "absl/status/statusor.h"
#include "api/openai/completion_params.h"
#include "config/config.h"

namespace aperture {

struct LevelAdjustments {
  int64_t max_tokens = 0;  // what will be generated at most
  bool max_tokens_clamped = false;
  bool prepend_system_prompt = false;
};

absl::StatusOr<LevelAdjustments> ApplyLevel(const CompletionParams& params, Level level, const Config& config);

}  // namespace aperture
