// AdmissionFilter: every decision about whether a caller may have more —
// requests per minute, tokens per minute, and the quotas that other
// features bring (research compute and requests per day, fine-tuning jobs
// and training tokens) — made in this one place on the request path, after
// authz (a quota belongs to the level authz computes) and before the
// handler. Handlers never check a limit; they report what a request used
// (RequestContext::charges) when its work ends.
//
// A Quota is one such decision. The filter asks each in order; the first
// that refuses answers (429 with Retry-After for a rate, or the quota's own
// refusal), and whatever the quotas before it charged is given back. A new
// quota is a class implementing Quota, added to the list in App::Start.
//
// Usage:
//   std::vector<std::unique_ptr<Quota>> quotas;
//   quotas.push_back(std::make_unique<RequestRateQuota>(limiters, config));
//   quotas.push_back(std::make_unique<TokenRateQuota>(limiters, config));
//   chain.push_back(std::make_unique<AdmissionFilter>(std::move(quotas)));
//
// Thread-safety: thread-safe, as every Quota must be.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "filters/filter.h"

namespace aperture {

class Quota {
 public:
  virtual ~Quota() = default;
  // Admits the request (nullopt), after adding to ctx.charges whatever it
  // took that the request's real use may correct; or refuses it with the
  // answer, having called ctx.Deny with a reason code for the record.
  virtual std::optional<http::Response> Admit(RequestContext& ctx) = 0;
};

class AdmissionFilter final : public Filter {
 public:
  explicit AdmissionFilter(std::vector<std::unique_ptr<Quota>> quotas) : quotas_(std::move(quotas)) {}
  std::optional<http::Response> Apply(RequestContext& ctx) override;

 private:
  const std::vector<std::unique_ptr<Quota>> quotas_;
};

}  // namespace aperture
