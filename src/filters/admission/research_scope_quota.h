// ResearchScopeQuota: the admission filter's Quota for research requests
// (the research routes, and chats that carry interventions): it admits them
// within the caller's research scope: the sites read and written, the
// forward-pass tokens and result bytes of one request (403 naming the site
// or limit and the scope that would allow it), forward-pass tokens per
// minute and requests per day (429 with Retry-After). The route's planner
// (Route::research_demand) works out the demand; the scope is the level's
// ([levels.*] in the config) narrowed by the caller's grant. Authz, before
// admission, refuses callers whose level lacks `inspect` or `intervene` the
// ordinary way. Owners are not limited.
//
// Usage: one of the quotas of AdmissionFilter (App::Start).
//
// Thread-safety: thread-safe (one instance serves every request).
#pragma once

#include "access/rate_limiter.h"
#include "access/research_quota.h"
#include "aperture/store.h"
#include "config/config.h"
#include "core/clock.h"
#include "filters/admission/admission_filter.h"

namespace aperture {

class ResearchScopeQuota final : public Quota {
 public:
  // `limiter` holds the research tokens-per-minute buckets (its own table).
  ResearchScopeQuota(const Config& config, Store& store, RateLimiter& limiter, ResearchQuota& quota, const Clock& clock)
      : config_(config), store_(store), limiter_(limiter), quota_(quota), clock_(clock) {}
  std::optional<http::Response> Admit(RequestContext& ctx) override;

 private:
  const Config& config_;
  Store& store_;
  RateLimiter& limiter_;
  ResearchQuota& quota_;
  const Clock& clock_;
};

}  // namespace aperture
