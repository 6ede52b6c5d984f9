#include "api/openai/level_checks.h"

#include <functional>

#include "absl/strings/cord.h"
#include "fmt/format.h"

namespace aperture {
namespace {

// PermissionDenied naming the parameter and the lowest level for which
// `allows` holds (or that no level does).
absl::Status Refuse(const Config& config, Level level, std::string_view param, std::string_view what,
                    const std::function<bool(const LevelLimits&)>& allows) {
  std::string message;
  for (Level l : kAllLevels) {
    if (l > level && allows(config.Limits(l))) {
      message = fmt::format("{} needs level '{}' or higher; your level on this model is '{}'", what, LevelName(l),
                            LevelName(level));
      break;
    }
  }
  if (message.empty()) message = fmt::format("{} is not allowed at any level of this server", what);
  absl::Status s = absl::PermissionDeniedError(message);
  s.SetPayload("aperture/param", absl::Cord(std::string(param)));
  return s;
}

}  // namespace

absl::StatusOr<LevelAdjustments> ApplyLevel(const CompletionParams& p, Level level, const Config& config) {
  const LevelLimits& limits = config.Limits(level);
  if (p.n > limits.max_n) {
    return Refuse(config, level, "n", fmt::format("'n' = {}", p.n),
                  [n = p.n](const LevelLimits& l) { return l.max_n >= n; });
  }
  const std::string_view logprobs_param = p.chat ? "top_logprobs" : "logprobs";
  if (p.logprobs && p.top_logprobs > limits.max_top_logprobs) {
    return Refuse(config, level, logprobs_param, fmt::format("'{}' = {}", logprobs_param, p.top_logprobs),
                  [k = p.top_logprobs](const LevelLimits& l) {
                    return l.Allows(Capability::kLogprobs) && l.max_top_logprobs >= k;
                  });
  }
  if (!p.logit_bias.empty()) {
    if (limits.logit_bias == LogitBias::kNever) {
      return Refuse(config, level, "logit_bias", "'logit_bias'",
                    [](const LevelLimits& l) { return l.logit_bias != LogitBias::kNever; });
    }
    if (p.logprobs && limits.logit_bias == LogitBias::kWithoutLogprobs) {
      return Refuse(config, level, "logit_bias", "'logit_bias' together with logprobs",
                    [](const LevelLimits& l) { return l.logit_bias == LogitBias::kAlways; });
    }
  }
  LevelAdjustments a;
  a.max_tokens = limits.max_tokens;
  if (p.max_tokens && *p.max_tokens <= limits.max_tokens) {
    a.max_tokens = *p.max_tokens;
  } else if (p.max_tokens) {
    a.max_tokens_clamped = true;
  }
  a.prepend_system_prompt = p.chat && limits.system_prompt;
  return a;
}

}  // namespace aperture
