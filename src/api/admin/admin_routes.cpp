#include "api/admin/admin_routes.h"
#include "core/error_code.h"

#include "api/body_fields.h"
#include "api/views.h"
#include "core/status_macros.h"
#include "filters/request_context.h"

namespace aperture {
namespace {

using Handler = std::function<absl::StatusOr<Json>(RequestContext&)>;

// Wraps a handler that returns JSON or an error.
std::function<http::Response(RequestContext&)> Json200(Handler h, int status = 200) {
  return [h = std::move(h), status](RequestContext& ctx) {
    absl::StatusOr<Json> result = h(ctx);
    // A refusal by the access rules is a denial in the record, named by its rule.
    if (absl::IsPermissionDenied(result.status())) {
      const std::string rule = ErrorCode(result.status());
      ctx.Deny(rule.empty() ? "permission_denied" : rule);
    }
    return Answer(result, status);
  };
}

std::string QueryOr(const RequestContext& ctx, std::string_view name) {
  auto v = ctx.request.Query(name);
  return v ? std::string(*v) : std::string();
}

// The ?principal= filter (id or name) as a principal id; "" when absent.
absl::StatusOr<std::string> PrincipalFilter(ApiDeps& d, const RequestContext& ctx) {
  std::string principal = QueryOr(ctx, "principal");
  if (principal.empty()) return principal;
  ASSIGN_OR_RETURN(Principal p, d.access.ResolvePrincipal(principal));
  return p.id;
}

// Requests as JSON. A denied one says when its requester may ask again; an
// approved one what its grant gives (approved for less than asked, with the
// grant's expiry, as it stands now: revoked grants say so).
absl::StatusOr<Json> RequestList(const ApiDeps& d, const std::vector<AccessRequest>& requests) {
  Json list = ListOf(requests);
  for (size_t i = 0; i < requests.size(); ++i) {
    const AccessRequest& r = requests[i];
    Json& item = list["data"][i];
    if (r.state == RequestState::kDenied) {
      item["may_ask_again_at"] = r.decided_at + d.config.access_request_retry_seconds;
    }
    if (r.state == RequestState::kApproved && !r.grant_id.empty()) {
      ASSIGN_OR_RETURN(std::optional<Grant> grant, d.store.FindGrant(r.grant_id));
      if (grant) {
        item["granted"] = {{"level", LevelName(grant->level)},
                           {"expires_at", grant->expires_at == 0 ? Json(nullptr) : Json(grant->expires_at)},
                           {"revoked_at", grant->revoked_at == 0 ? Json(nullptr) : Json(grant->revoked_at)}};
      }
    }
  }
  return list;
}

}  // namespace

void AddAdminRoutes(Router& router, ApiDeps& d) {
  // Principals.
  router.Add({"GET",
              "/v1/admin/principals",
              "admin.principals.list",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext&) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(auto all, d.store.ListPrincipals());
                return ListOf(all);
              })});
  router.Add({"POST",
              "/v1/admin/principals",
              "admin.principals.create",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200(
                  [&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                    ASSIGN_OR_RETURN(std::string name, RequiredString(ctx.body, "name"));
                    ASSIGN_OR_RETURN(auto role_name, OptionalString(ctx.body, "role"));
                    auto role = ParseRole(role_name.value_or("member"));
                    if (!role) return FieldError("role", "'role' must be owner, reviewer or member");
                    ASSIGN_OR_RETURN(Principal p, d.access.AddPrincipal(ctx.caller, name, *role));
                    return View(p);
                  },
                  201)});

  // Keys: the plaintext appears in this one response and nowhere else.
  router.Add({"GET",
              "/v1/admin/keys",
              "admin.keys.list",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(std::string principal, PrincipalFilter(d, ctx));
                ASSIGN_OR_RETURN(auto keys, d.store.ListApiKeys(principal));
                return ListOf(keys);
              })});
  router.Add({"POST",
              "/v1/admin/keys",
              "admin.keys.create",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200(
                  [&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                    ASSIGN_OR_RETURN(std::string principal, RequiredString(ctx.body, "principal"));
                    ASSIGN_OR_RETURN(auto ttl, OptionalDuration(ctx.body, "expires_in"));
                    ASSIGN_OR_RETURN(CreatedKey created, d.access.CreateKey(ctx.caller, principal, ttl));
                    Json v = View(created.key);
                    v["key"] = created.plaintext;
                    return v;
                  },
                  201)});
  router.Add({"DELETE",
              "/v1/admin/keys/{id}",
              "admin.keys.revoke",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                RETURN_IF_ERROR(d.access.RevokeKey(ctx.caller, ctx.PathParam("id")));
                ASSIGN_OR_RETURN(auto key, d.store.FindApiKey(ctx.PathParam("id")));
                return View(*key);
              })});

  // Models.
  router.Add({"GET",
              "/v1/admin/models",
              "admin.models.list",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext&) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(auto models, d.store.ListModels());
                Json data = Json::array();
                for (const Model& m : models) {
                  Json v = View(m, m.public_level);
                  v["path"] = m.path;
                  data.push_back(std::move(v));
                }
                return Json{{"object", "list"}, {"data", std::move(data)}};
              })});
  router.Add({"POST",
              "/v1/admin/models",
              "admin.models.create",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200(
                  [&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                    ASSIGN_OR_RETURN(std::string id, RequiredString(ctx.body, "id"));
                    ASSIGN_OR_RETURN(std::string path, RequiredString(ctx.body, "path"));
                    ASSIGN_OR_RETURN(auto level, OptionalLevel(ctx.body, "public_level"));
                    ASSIGN_OR_RETURN(Model m, d.access.AddModel(ctx.caller, id, path, level.value_or(Level::kClosed)));
                    return View(m, m.public_level);
                  },
                  201)});
  router.Add({"POST",
              "/v1/admin/models/{id}/request-fields",
              "admin.models.request_fields",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                auto it = ctx.body.find("fields");
                if (it == ctx.body.end()) return FieldError("fields", "'fields' is required");
                RETURN_IF_ERROR(d.access.SetRequestFields(ctx.caller, ctx.PathParam("id"), *it));
                ASSIGN_OR_RETURN(auto m, d.store.FindModel(ctx.PathParam("id")));
                if (!m) return absl::NotFoundError("the model was removed meanwhile");
                return View(*m, m->public_level);
              })});

  router.Add({"POST",
              "/v1/admin/models/{id}/system-prompt",
              "admin.models.system_prompt",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(std::string prompt, RequiredString(ctx.body, "system_prompt"));
                RETURN_IF_ERROR(d.access.SetSystemPrompt(ctx.caller, ctx.PathParam("id"), prompt));
                ASSIGN_OR_RETURN(auto m, d.store.FindModel(ctx.PathParam("id")));
                if (!m) return absl::NotFoundError("the model was removed meanwhile");
                return View(*m, m->public_level);
              })});

  // Grants.
  router.Add({"GET",
              "/v1/admin/grants",
              "admin.grants.list",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(std::string principal, PrincipalFilter(d, ctx));
                ASSIGN_OR_RETURN(auto grants, d.store.ListGrants(principal, QueryOr(ctx, "model")));
                return ListOf(grants);
              })});
  router.Add({"POST",
              "/v1/admin/grants",
              "admin.grants.create",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              Json200(
                  [&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                    ASSIGN_OR_RETURN(std::string principal, RequiredString(ctx.body, "principal"));
                    ASSIGN_OR_RETURN(std::string model, RequiredString(ctx.body, "model"));
                    ASSIGN_OR_RETURN(Level level, RequiredLevel(ctx.body, "level"));
                    ASSIGN_OR_RETURN(auto ttl, OptionalDuration(ctx.body, "expires_in"));
                    ASSIGN_OR_RETURN(std::string reason, RequiredString(ctx.body, "reason"));
                    std::string scope = "{}";
                    if (auto it = ctx.body.find("scope"); it != ctx.body.end() && !it->is_null()) {
                      if (!it->is_object()) return FieldError("scope", "'scope' must be an object (docs/research.md)");
                      scope = DumpJson(*it);
                    }
                    ASSIGN_OR_RETURN(Grant g,
                                     d.access.GrantAccess(ctx.caller, principal, model, level, ttl, reason, scope));
                    return View(g);
                  },
                  201)});
  router.Add({"DELETE",
              "/v1/admin/grants/{id}",
              "admin.grants.revoke",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                RETURN_IF_ERROR(d.access.RevokeGrant(ctx.caller, ctx.PathParam("id")));
                ASSIGN_OR_RETURN(auto g, d.store.FindGrant(ctx.PathParam("id")));
                return View(*g);
              })});

  // Access requests, reviewer side.
  router.Add({"GET",
              "/v1/admin/access-requests",
              "admin.requests.list",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                std::optional<RequestState> state;
                if (auto s = ctx.request.Query("state")) {
                  state = ParseRequestState(*s);
                  if (!state) return FieldError("state", "'state' must be pending, approved or denied");
                }
                ASSIGN_OR_RETURN(auto list, d.access.ListRequests(ctx.caller, state));
                return RequestList(d, list);
              })});
  router.Add({"POST",
              "/v1/admin/access-requests/{id}/approve",
              "admin.requests.approve",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                const Json body = ctx.body.is_object() ? ctx.body : Json::object();
                ASSIGN_OR_RETURN(auto level, OptionalLevel(body, "level"));
                ASSIGN_OR_RETURN(auto ttl, OptionalDuration(body, "expires_in"));
                ASSIGN_OR_RETURN(auto reason, OptionalString(body, "reason"));
                ASSIGN_OR_RETURN(AccessRequest r,
                                 d.access.Approve(ctx.caller, ctx.PathParam("id"), level, ttl, reason.value_or("")));
                return View(r);
              })});
  router.Add({"POST",
              "/v1/admin/access-requests/{id}/deny",
              "admin.requests.deny",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(std::string reason, RequiredString(ctx.body, "reason"));
                ASSIGN_OR_RETURN(AccessRequest r, d.access.Deny(ctx.caller, ctx.PathParam("id"), reason));
                return View(r);
              })});

  // Access requests, requester side.
  router.Add({"POST",
              "/v1/access-requests",
              "requests.create",
              Access::kPrincipal,
              ModelFrom::kNone,
              {},
              {},
              Json200(
                  [&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                    ASSIGN_OR_RETURN(std::string model, RequiredString(ctx.body, "model"));
                    ASSIGN_OR_RETURN(Level level, RequiredLevel(ctx.body, "level"));
                    ASSIGN_OR_RETURN(std::string justification, RequiredString(ctx.body, "justification"));
                    Json fields = ctx.body.contains("fields") ? ctx.body["fields"] : Json::object();
                    ASSIGN_OR_RETURN(AccessRequest r,
                                     d.access.SubmitRequest(ctx.caller, model, level, justification, fields));
                    return View(r);
                  },
                  201)});
  router.Add({"GET",
              "/v1/access-requests",
              "requests.mine",
              Access::kPrincipal,
              ModelFrom::kNone,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(auto list, d.access.MyRequests(ctx.caller));
                return RequestList(d, list);
              })});
}

}  // namespace aperture
