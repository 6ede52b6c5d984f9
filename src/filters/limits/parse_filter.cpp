#include "filters/limits/parse_filter.h"

#include "fmt/format.h"

namespace aperture {

std::optional<http::Response> ParseFilter::Apply(RequestContext& ctx) {
  bool method_mismatch = false;
  ctx.route = router_.Match(ctx.request.method, ctx.request.path, ctx.path_params, method_mismatch);
  if (!ctx.route) {
    ctx.Deny(method_mismatch ? "method_not_allowed" : "no_route");
    if (method_mismatch) {
      return http::ErrorResponse(405, fmt::format("{} is not allowed on {}", ctx.request.method, ctx.request.path),
                                 "method_not_allowed");
    }
    return http::ErrorResponse(404, fmt::format("no endpoint {} {}", ctx.request.method, ctx.request.path),
                               "not_found");
  }
  if (ctx.request.body.empty()) return std::nullopt;
  // Bodies are parsed as JSON whatever the Content-Type says: credentials travel
  // in the Authorization header, which browsers never add on their own, so a
  // lax Content-Type opens no cross-site hole, and `curl -d` just works.
  auto body = ParseJson(ctx.request.body);
  if (!body.ok()) {
    ctx.Deny("bad_json");
    return http::ErrorResponse(400, std::string(body.status().message()), "invalid_json");
  }
  if (!body->is_object()) {
    ctx.Deny("bad_json");
    return http::ErrorResponse(400, "the body must be a JSON object", "invalid_json");
  }
  ctx.body = std::move(*body);
  return std::nullopt;
}

}  // namespace aperture
