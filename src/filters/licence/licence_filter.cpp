#include "filters/licence/licence_filter.h"

#include "filters/status_response.h"

namespace aperture {

std::optional<http::Response> LicenceFilter::Apply(RequestContext& ctx) {
  if (!ctx.decision || !ctx.decision->allowed() || !ctx.decision->model) return std::nullopt;
  absl::StatusOr<LicenceVerdict> verdict =
      gate_.Check(ctx.caller, *ctx.decision->model, ctx.decision->level, ctx.capabilities);
  if (!verdict.ok()) {
    ctx.Fail("internal");
    return StatusResponse(verdict.status());
  }
  if (verdict->allowed) return std::nullopt;
  ctx.Deny(verdict->code);
  http::Response r = http::ErrorResponse(verdict->status, verdict->message, verdict->code);
  if (verdict->status == 401) r.SetHeader("WWW-Authenticate", "Bearer");
  return r;
}

}  // namespace aperture
