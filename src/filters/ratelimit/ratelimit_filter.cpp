#include "filters/ratelimit/ratelimit_filter.h"

#include "fmt/format.h"

namespace aperture {

std::optional<http::Response> RateLimitFilter::Apply(RequestContext& ctx) {
  // Static content (the web interface's files) costs a memory read; the
  // calls its pages make are limited like every other.
  if (ctx.route && ctx.route->credentials == Credentials::kNone) return std::nullopt;
  std::string key = ctx.caller.anonymous() ? "addr:" + ctx.caller.address : "prn:" + ctx.caller.principal->id;
  int64_t per_minute =
      ctx.caller.anonymous() ? config_.anonymous_requests_per_minute : config_.principal_requests_per_minute;
  if (ctx.decision && !ctx.caller.IsAtLeast(Role::kOwner)) {
    key += "/" + ctx.model_id;
    per_minute = config_.Limits(ctx.decision->level).requests_per_minute;
  }
  std::optional<int64_t> wait = limiter_.Acquire(key, per_minute);
  if (!wait) return std::nullopt;
  ctx.Deny("rate_limited");
  return http::ErrorResponse(
             429, fmt::format("rate limit of {} requests per minute reached; retry in {} s", per_minute, *wait),
             "rate_limited")
      .SetHeader("Retry-After", std::to_string(*wait));
}

}  // namespace aperture
