#include "filters/authn/authn_filter.h"

#include "filters/status_response.h"

namespace aperture {

std::optional<http::Response> AuthnFilter::Apply(RequestContext& ctx) {
  auto caller = authenticator_.Authenticate(ctx.request.Header("authorization"), ctx.request.remote_address);
  if (!caller.ok()) {
    ctx.Deny(AuthFailureReason(caller.status()));
    ctx.caller.address = ctx.request.remote_address;
    http::Response r = absl::IsUnauthenticated(caller.status())
                           ? http::ErrorResponse(401, std::string(caller.status().message()), ctx.reason)
                           : StatusResponse(caller.status());
    if (r.status == 401) r.SetHeader("WWW-Authenticate", "Bearer");
    return r;
  }
  ctx.caller = std::move(*caller);
  return std::nullopt;
}

}  // namespace aperture
