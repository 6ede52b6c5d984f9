#include "filters/authn/authn_filter.h"

#include "filters/status_response.h"
#include "http/cookie.h"

namespace aperture {
namespace {

bool ChangesNothing(std::string_view method) { return method == "GET" || method == "HEAD"; }

}  // namespace

std::optional<http::Response> AuthnFilter::Apply(RequestContext& ctx) {
  const Credentials credentials = ctx.route ? ctx.route->credentials : Credentials::kAny;
  ctx.caller.address = ctx.request.remote_address;
  if (credentials == Credentials::kNone) return std::nullopt;
  const std::optional<std::string_view> authorization = ctx.request.Header("authorization");
  std::optional<std::string_view> session;
  if (!authorization && credentials == Credentials::kAny) {
    session = http::CookieValue(ctx.request.Header("cookie").value_or(""), kSessionCookieName);
  }
  auto caller = session ? sessions_.Authenticate(*session, ctx.request.remote_address)
                        : authenticator_.Authenticate(authorization, ctx.request.remote_address);
  if (!caller.ok()) {
    ctx.Deny(AuthFailureReason(caller.status()));
    http::Response r = absl::IsUnauthenticated(caller.status())
                           ? http::ErrorResponse(401, std::string(caller.status().message()), ctx.reason)
                           : StatusResponse(caller.status());
    if (r.status == 401) r.SetHeader("WWW-Authenticate", "Bearer");
    if (session && r.status == 401) r.SetHeader("Set-Cookie", sessions_.ClearingCookie());
    return r;
  }
  if (session && !ChangesNothing(ctx.request.method) &&
      !sessions_.CsrfTokenMatches(*session, ctx.request.Header(kCsrfHeader))) {
    ctx.caller = std::move(*caller);
    ctx.Deny("csrf_token");
    return http::ErrorResponse(403,
                               "this call changes state and came with a session cookie, so it needs the session's "
                               "X-CSRF-Token header (GET /v1/session gives it); API keys need none",
                               "csrf_token");
  }
  ctx.caller = std::move(*caller);
  return std::nullopt;
}

}  // namespace aperture
