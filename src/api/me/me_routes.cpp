#include "api/me/me_routes.h"

#include "api/body_fields.h"
#include "api/views.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"
#include "http/cookie.h"

namespace aperture {
namespace {

Json SessionView(const ApiDeps& d, const RequestContext& ctx) {
  Json v = {{"object", "session"}};
  if (ctx.caller.anonymous()) {
    v["principal"] = nullptr;
    v["via"] = nullptr;
    return v;
  }
  v["principal"] = View(*ctx.caller.principal);
  v["key"] = ctx.caller.key_id;
  if (ctx.caller.session_id.empty()) {
    v["via"] = "key";
    return v;
  }
  v["via"] = "session";
  v["session"] = ctx.caller.session_id;
  v["expires_at"] = ctx.caller.session_expires_at;
  // The token only a page of this origin can read (no CORS): it must come
  // back in X-CSRF-Token on every call that changes state.
  std::optional<std::string_view> secret =
      http::CookieValue(ctx.request.Header("cookie").value_or(""), kSessionCookieName);
  if (secret) v["csrf_token"] = d.sessions.CsrfToken(*secret);
  return v;
}

http::Response SignIn(ApiDeps& d, RequestContext& ctx) {
  // A header that another site's page cannot send without the server's
  // consent (a CORS preflight it never gives), so no site can sign a
  // visitor's browser in to someone else's account.
  if (!ctx.request.Header("x-requested-with")) {
    ctx.Deny("sign_in_header");
    return http::ErrorResponse(
        403, "signing in needs the X-Requested-With header (the web interface sends it); API clients use their key",
        "sign_in_header");
  }
  auto key = RequiredString(ctx.body.is_object() ? ctx.body : Json::object(), "key");
  if (!key.ok()) {
    ctx.Deny("bad_request");
    return StatusResponse(key.status());
  }
  auto started = d.sessions.SignIn(*key, ctx.request.remote_address);
  if (!started.ok()) {
    ctx.Deny(AuthFailureReason(started.status()));
    if (absl::IsUnauthenticated(started.status())) {
      return http::ErrorResponse(401, std::string(started.status().message()), ctx.reason, "key");
    }
    return StatusResponse(started.status());
  }
  ctx.caller.principal = started->principal;  // recorded as the one who signed in
  ctx.caller.key_id = started->session.key_id;
  Json body = {{"object", "session"},
               {"principal", View(started->principal)},
               {"via", "session"},
               {"session", started->session.id},
               {"key", started->session.key_id},
               {"expires_at", started->session.expires_at},
               {"csrf_token", started->csrf_token}};
  http::Response r = JsonResponse(body, 201);
  r.SetHeader("Set-Cookie", d.sessions.Cookie(*started));
  r.SetHeader("Cache-Control", "no-store");
  return r;
}

// One line saying where a level comes from, for people.
std::string WhyText(const Caller& caller, const Model& m, const std::optional<Grant>& grant,
                    const Authorizer::Levels& levels) {
  std::string why;
  if (caller.IsAtLeast(Role::kOwner)) {
    why = "you are an owner: you hold every level up to the ceiling";
  } else if (grant && grant->level >= levels.held) {
    why = fmt::format("your grant {} ({}{}, by {}: {})", grant->id, LevelName(grant->level),
                      grant->expires_at ? fmt::format(", until {}", FormatRfc3339(grant->expires_at)) : "",
                      grant->granted_by, grant->reason);
  } else if (levels.held > Level::kClosed && m.public_level >= Level::kHosted) {
    why = fmt::format("the model's public level, which everyone has ({})", LevelName(m.public_level));
  } else if (caller.IsAtLeast(Role::kReviewer)) {
    why = "you are a reviewer: you see the model to decide requests, and use it through grants";
  } else {
    why = "no grant and no public access";
  }
  if (levels.effective < levels.held) {
    why += fmt::format("; held at '{}' but suspended down to '{}' by the release policy's ceiling{}",
                       LevelName(levels.held), LevelName(levels.effective),
                       m.ceiling_reason.empty() ? "" : fmt::format(" ({})", m.ceiling_reason));
  }
  return why;
}

absl::StatusOr<Json> Me(ApiDeps& d, const RequestContext& ctx) {
  ASSIGN_OR_RETURN(std::vector<Model> models, d.store.ListModels());
  const int64_t now = d.clock.NowSeconds();
  Json list = Json::array();
  for (const Model& m : models) {
    ASSIGN_OR_RETURN(Authorizer::Levels levels, d.authorizer.LevelsOn(ctx.caller, m));
    if (!ModelVisible(ctx.caller, levels.held)) continue;
    std::optional<Grant> grant;
    if (!ctx.caller.IsAtLeast(Role::kOwner)) {
      ASSIGN_OR_RETURN(grant, d.store.FindActiveGrant(ctx.caller.principal->id, m.id, now));
    }
    Json g = nullptr;
    if (grant) g = View(*grant);
    list.push_back({{"model", m.id},
                    {"public_level", LevelName(m.public_level)},
                    {"ceiling", LevelName(m.ceiling)},
                    {"held", LevelName(levels.held)},
                    {"level", LevelName(levels.effective)},
                    {"suspended", levels.effective < levels.held},
                    {"grant", std::move(g)},
                    {"why", WhyText(ctx.caller, m, grant, levels)}});
  }
  Json out = SessionView(d, ctx);
  out["object"] = "me";
  out["models"] = std::move(list);
  return out;
}

}  // namespace

void AddMeRoutes(Router& router, ApiDeps& d) {
  Route sign_in{
      "POST", "/v1/session", "session.create", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
        return SignIn(d, ctx);
      }};
  sign_in.credentials = Credentials::kKeyOnly;
  router.Add(std::move(sign_in));
  router.Add(
      {"GET", "/v1/session", "session.get", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
         http::Response r = JsonResponse(SessionView(d, ctx));
         r.SetHeader("Cache-Control", "no-store");
         return r;
       }});
  router.Add({"DELETE",
              "/v1/session",
              "session.delete",
              Access::kPrincipal,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) {
                absl::Status s = d.sessions.SignOut(ctx.caller);
                if (!s.ok()) return StatusResponse(s);
                http::Response r = JsonResponse({{"object", "session"}, {"ended", ctx.caller.session_id}});
                r.SetHeader("Set-Cookie", d.sessions.ClearingCookie());
                return r;
              }});
  router.Add({"GET", "/v1/me", "me", Access::kPrincipal, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
                return Answer(Me(d, ctx));
              }});
  router.Add({"GET",
              "/v1/me/keys",
              "me.keys.list",
              Access::kPrincipal,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) -> http::Response {
                auto keys = d.store.ListApiKeys(ctx.caller.principal->id);
                if (!keys.ok()) return StatusResponse(keys.status());
                Json list = ListOf(*keys);
                for (Json& k : list["data"]) k["current"] = k["id"] == ctx.caller.key_id;
                return JsonResponse(list);
              }});
  router.Add({"POST",
              "/v1/me/keys",
              "me.keys.create",
              Access::kPrincipal,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) {
                auto result = [&]() -> absl::StatusOr<Json> {
                  const Json body = ctx.body.is_object() ? ctx.body : Json::object();
                  ASSIGN_OR_RETURN(auto ttl, OptionalDuration(body, "expires_in"));
                  ASSIGN_OR_RETURN(CreatedKey created, d.access.CreateOwnKey(ctx.caller, ttl));
                  Json v = View(created.key);
                  v["key"] = created.plaintext;
                  return v;
                }();
                http::Response r = Answer(result, 201);
                r.SetHeader("Cache-Control", "no-store");
                return r;
              }});
  router.Add({"DELETE",
              "/v1/me/keys/{id}",
              "me.keys.revoke",
              Access::kPrincipal,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) {
                return Answer([&]() -> absl::StatusOr<Json> {
                  RETURN_IF_ERROR(d.access.RevokeOwnKey(ctx.caller, ctx.PathParam("id")));
                  ASSIGN_OR_RETURN(auto key, d.store.FindApiKey(ctx.PathParam("id")));
                  if (!key) return absl::NotFoundError("the key was removed meanwhile");
                  return View(*key);
                }());
              }});
}

}  // namespace aperture
