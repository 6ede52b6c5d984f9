// The rate quotas of the admission filter: requests per minute and tokens
// per minute, per caller and model at the caller's effective level (per
// caller at the config's rate on routes without a model), as
// docs/config.md states them.
//
// Callers are principals, or client addresses for anonymous callers; an
// IPv6 address counts by its /64 prefix, the block one subscriber holds, so
// rotating addresses within it buys nothing. Anonymous callers and
// principals have separate limiter tables, so a flood of addresses (which
// an attacker can multiply) cannot crowd keyed callers out of theirs.
// Owners are limited per principal only, at the config's rate, and are not
// charged tokens.
//
// Usage: see AdmissionFilter.
//
// Thread-safety: thread-safe.
#pragma once

#include <string>

#include "access/rate_limiter.h"
#include "config/config.h"
#include "filters/admission/admission_filter.h"

namespace aperture {

// The limiter tables the rate quotas share; each bounded (RateLimiter).
struct CallerLimiters {
  explicit CallerLimiters(const Clock& clock, RateLimiter::Options options = {})
      : anonymous_requests(clock, options),
        principal_requests(clock, options),
        anonymous_tokens(clock, options),
        principal_tokens(clock, options) {}
  RateLimiter anonymous_requests, principal_requests, anonymous_tokens, principal_tokens;

  // Replicas sharing the limits (RateLimiter::SetReplicas), for every table.
  void SetReplicas(int replicas) {
    for (RateLimiter* l : {&anonymous_requests, &principal_requests, &anonymous_tokens, &principal_tokens}) {
      l->SetReplicas(replicas);
    }
  }
  int replicas() const { return principal_requests.replicas(); }
};

// The caller part of a limiter key: "prn:<id>", or "addr:<address>" with an
// IPv6 address cut to its /64 prefix.
std::string CallerRateKey(const Caller& caller);

class RequestRateQuota final : public Quota {
 public:
  RequestRateQuota(CallerLimiters& limiters, const Config& config) : limiters_(limiters), config_(config) {}
  std::optional<http::Response> Admit(RequestContext& ctx) override;

 private:
  CallerLimiters& limiters_;
  const Config& config_;
};

// Routes that spend tokens say how many they may spend at most
// (Route::token_estimate); that is taken from the caller's tokens-per-minute
// budget before the handler runs, and settled to what the request used.
class TokenRateQuota final : public Quota {
 public:
  TokenRateQuota(CallerLimiters& limiters, const Config& config) : limiters_(limiters), config_(config) {}
  std::optional<http::Response> Admit(RequestContext& ctx) override;

 private:
  CallerLimiters& limiters_;
  const Config& config_;
};

}  // namespace aperture
