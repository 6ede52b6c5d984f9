#include "filters/admission/research_scope_quota.h"

#include "filters/admission/rate_quotas.h"

#include "filters/status_response.h"
#include "fmt/format.h"

namespace aperture {

std::optional<http::Response> ResearchScopeQuota::Admit(RequestContext& ctx) {
  if (!ctx.route->research_demand || !ctx.decision) return std::nullopt;
  absl::StatusOr<std::optional<ResearchDemand>> demand = ctx.route->research_demand(ctx);
  if (!demand.ok()) {
    ctx.Deny(absl::IsInvalidArgument(demand.status()) ? "bad_request" : "unavailable");
    return StatusResponse(demand.status());
  }
  if (!demand->has_value()) return std::nullopt;
  ctx.research = **demand;
  if (ctx.caller.IsAtLeast(Role::kOwner)) return std::nullopt;

  const std::optional<Grant>& grant = ctx.decision->grant;
  absl::StatusOr<GrantScope> narrowed = ParseGrantScope(grant ? grant->scope : "");
  if (!narrowed.ok()) {
    ctx.Deny("internal");
    return StatusResponse(absl::InternalError(
        fmt::format("grant {} has a damaged research scope: {}", grant->id, std::string(narrowed.status().message()))));
  }
  const Level level = ctx.decision->level;
  if (auto refusal = CheckScope(ctx.model_id, level, config_, *narrowed, grant ? grant->id : "", *ctx.research)) {
    ctx.Deny(refusal->reason);
    return http::ErrorResponse(403, refusal->message, refusal->reason);
  }
  if (!ctx.research->limits_apply) return std::nullopt;

  const ResearchScope scope = NarrowScope(config_.Limits(level).research, *narrowed);
  const std::string who = ctx.caller.anonymous() ? "addr:" + ctx.caller.address : ctx.caller.principal->id;
  const int64_t tokens = std::max<int64_t>(ctx.research->forward_tokens, 1);
  // A request above a minute's budget takes the whole budget.
  const RateLimiter::Verdict v =
      limiter_.Acquire(fmt::format("{}/{}", CallerRateKey(ctx.caller), ctx.model_id), scope.tokens_per_minute, tokens);
  if (!v.allowed) {
    ctx.Deny("research_rate_limited");
    const std::string message =
        v.table_full
            ? fmt::format("the server is tracking as many callers as it can; retry in {} s", v.retry_after_seconds)
            : fmt::format(
                  "research_tokens_per_minute of {} forward-pass tokens reached on '{}' (this "
                  "request needs {}); retry in {} s",
                  scope.tokens_per_minute, ctx.model_id, tokens, v.retry_after_seconds);
    return http::ErrorResponse(429, message, "rate_limited")
        .SetHeader("Retry-After", std::to_string(v.retry_after_seconds));
  }
  absl::StatusOr<std::optional<int64_t>> day =
      quota_.Take(store_, who, ctx.model_id, clock_.NowSeconds(), scope.requests_per_day);
  if (!day.ok()) {
    ctx.Deny("internal");
    return StatusResponse(day.status());
  }
  if (day->has_value()) {
    ctx.Deny("research_quota_exhausted");
    return http::ErrorResponse(429,
                               fmt::format("research_requests_per_day of {} reached on '{}' today (UTC); retry in {} s",
                                           scope.requests_per_day, ctx.model_id, **day),
                               "rate_limited")
        .SetHeader("Retry-After", std::to_string(**day));
  }
  return std::nullopt;
}

}  // namespace aperture
