// RateLimitFilter: token buckets per caller (principal, or client address if
// anonymous). Model-scoped requests use the requests-per-minute of the
// caller's effective level on that model, so it runs after authz, which
// computes the level; other routes use the config's per-caller rate.
#pragma once

#include "access/rate_limiter.h"
#include "config/config.h"
#include "filters/filter.h"

namespace aperture {

class RateLimitFilter final : public Filter {
 public:
  RateLimitFilter(RateLimiter& limiter, const Config& config) : limiter_(limiter), config_(config) {}
  std::optional<http::Response> Apply(RequestContext& ctx) override;

 private:
  RateLimiter& limiter_;
  const Config& config_;
};

}  // namespace aperture
