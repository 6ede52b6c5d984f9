#include "filters/admission/admission_filter.h"

namespace aperture {

std::optional<http::Response> AdmissionFilter::Apply(RequestContext& ctx) {
  for (const auto& quota : quotas_) {
    if (std::optional<http::Response> refused = quota->Admit(ctx)) {
      ctx.charges.Settle(Usage{});  // a refused request used nothing
      return refused;
    }
  }
  return std::nullopt;
}

}  // namespace aperture
