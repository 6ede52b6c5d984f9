#include "filters/authz/authz_filter.h"

#include "filters/status_response.h"
#include "fmt/format.h"

namespace aperture {
namespace {

std::optional<http::Response> CheckRole(RequestContext& ctx) {
  const Access access = ctx.route->access;
  if (access == Access::kAnyone) return std::nullopt;
  if (ctx.caller.anonymous()) {
    ctx.Deny("key_required");
    return http::ErrorResponse(401, "this endpoint needs an API key (Authorization: Bearer ak_...)", "key_required")
        .SetHeader("WWW-Authenticate", "Bearer");
  }
  const Role needed = access == Access::kOwner      ? Role::kOwner
                      : access == Access::kReviewer ? Role::kReviewer
                                                    : Role::kMember;
  if (!ctx.caller.IsAtLeast(needed)) {
    ctx.Deny("role_too_low");
    return http::ErrorResponse(403, fmt::format("this endpoint needs the '{}' role", RoleName(needed)), "role_too_low");
  }
  return std::nullopt;
}

}  // namespace

std::optional<http::Response> AuthzFilter::Apply(RequestContext& ctx) {
  if (auto denied = CheckRole(ctx)) return denied;
  if (ctx.route->model_from == ModelFrom::kNone) return std::nullopt;

  if (ctx.route->model_from == ModelFrom::kPath) {
    ctx.model_id = ctx.PathParam("model");
  } else {
    auto model = RequiredString(ctx.body.is_object() ? ctx.body : Json::object(), "model");
    if (!model.ok()) {
      ctx.Deny("bad_request");
      return StatusResponse(model.status());
    }
    ctx.model_id = std::move(*model);
  }
  if (ctx.route->capability) ctx.capabilities.push_back(*ctx.route->capability);
  if (ctx.route->body_capabilities && ctx.body.is_object()) {
    for (Capability c : ctx.route->body_capabilities(ctx.body)) ctx.capabilities.push_back(c);
  }
  // Every capability the request asks for must be allowed; the first refusal answers.
  for (Capability c : ctx.capabilities) {
    auto decision = authorizer_.Authorize(ctx.caller, ctx.model_id, c);
    if (!decision.ok()) {
      ctx.Deny("internal");
      return StatusResponse(decision.status());
    }
    ctx.decision = std::move(*decision);
    if (!ctx.decision->allowed()) {
      ctx.Deny(ctx.decision->reason);
      const std::string_view param = c == Capability::kLogprobs ? "logprobs" : "";
      return http::ErrorResponse(ctx.decision->status, ctx.decision->message, ctx.decision->reason, param);
    }
  }
  return std::nullopt;
}

}  // namespace aperture
