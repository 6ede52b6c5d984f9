// LicenceFilter: after authorization and rate limiting, refuses a request
// whose caller must accept the model's licence first (access/licence_gate.h),
// so no byte of a gated model leaves before its licence is accepted.
#pragma once

#include "access/licence_gate.h"
#include "filters/filter.h"

namespace aperture {

class LicenceFilter final : public Filter {
 public:
  explicit LicenceFilter(const LicenceGate& gate) : gate_(gate) {}
  std::optional<http::Response> Apply(RequestContext& ctx) override;

 private:
  const LicenceGate& gate_;
};

}  // namespace aperture
