#include "filters/admission/rate_quotas.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "fmt/format.h"

namespace aperture {
namespace {

// "2001:db8:1:2:a:b:c:d" -> "2001:db8:1:2::/64"; anything else unchanged.
std::string AddressKey(const std::string& address) {
  if (address.find(':') == std::string::npos) return address;
  in6_addr ip{};
  if (inet_pton(AF_INET6, address.c_str(), &ip) != 1) return address;
  std::memset(ip.s6_addr + 8, 0, 8);
  char text[INET6_ADDRSTRLEN];
  if (inet_ntop(AF_INET6, &ip, text, sizeof text) == nullptr) return address;
  return std::string(text) + "/64";
}

http::Response TooMany(const RateLimiter::Verdict& v, std::string_view what, int64_t per_minute) {
  std::string message =
      v.table_full
          ? fmt::format("the server is tracking as many callers as it can; retry in {} s", v.retry_after_seconds)
          : fmt::format("{} limit of {} per minute reached; retry in {} s", what, per_minute, v.retry_after_seconds);
  return http::ErrorResponse(429, message, "rate_limited")
      .SetHeader("Retry-After", std::to_string(v.retry_after_seconds));
}

// Model-scoped requests of non-owners are limited at their level's rates.
bool LevelLimited(const RequestContext& ctx) { return ctx.decision && !ctx.caller.IsAtLeast(Role::kOwner); }

}  // namespace

std::string CallerRateKey(const Caller& caller) {
  return caller.anonymous() ? "addr:" + AddressKey(caller.address) : "prn:" + caller.principal->id;
}

std::optional<http::Response> RequestRateQuota::Admit(RequestContext& ctx) {
  // Static content (the web interface's files) costs a memory read; the
  // calls its pages make are limited like every other.
  if (ctx.route && ctx.route->credentials == Credentials::kNone) return std::nullopt;
  std::string key = CallerRateKey(ctx.caller);
  int64_t per_minute =
      ctx.caller.anonymous() ? config_.anonymous_requests_per_minute : config_.principal_requests_per_minute;
  if (LevelLimited(ctx)) {
    key += "/" + ctx.model_id;
    per_minute = config_.Limits(ctx.decision->level).requests_per_minute;
  }
  RateLimiter& limiter = ctx.caller.anonymous() ? limiters_.anonymous_requests : limiters_.principal_requests;
  RateLimiter::Verdict v = limiter.Acquire(key, per_minute);
  if (v.allowed) return std::nullopt;
  ctx.Deny("rate_limited");
  return TooMany(v, "request rate", per_minute);
}

std::optional<http::Response> TokenRateQuota::Admit(RequestContext& ctx) {
  if (!ctx.route->token_estimate || !LevelLimited(ctx)) return std::nullopt;
  const int64_t per_minute = config_.Limits(ctx.decision->level).tokens_per_minute;
  if (per_minute <= 0) return std::nullopt;  // unlimited
  // A request larger than a minute's budget could never pass: it takes the
  // whole budget, and its real use is settled after.
  const int64_t cost = std::clamp<int64_t>(ctx.route->token_estimate(ctx), 0, per_minute);
  const std::string key = CallerRateKey(ctx.caller) + "/" + ctx.model_id;
  RateLimiter& limiter = ctx.caller.anonymous() ? limiters_.anonymous_tokens : limiters_.principal_tokens;
  RateLimiter::Verdict v = limiter.Acquire(key, per_minute, cost);
  if (!v.allowed) {
    ctx.Deny("token_rate_limited");
    return TooMany(v, "token", per_minute);
  }
  ctx.charges.Add(
      [&limiter, key, per_minute, cost](const Usage& used) { limiter.Settle(key, per_minute, cost, used.tokens); });
  return std::nullopt;
}

}  // namespace aperture
