#include "api/files/licence_routes.h"

#include "api/views.h"
#include "api/visible_model.h"
#include "core/status_macros.h"
#include "distribution/licence_terms.h"
#include "filters/request_context.h"
#include "fmt/format.h"

namespace aperture {
namespace {

using Handler = std::function<absl::StatusOr<Json>(RequestContext&)>;

std::function<http::Response(RequestContext&)> Json200(Handler h) {
  return [h = std::move(h)](RequestContext& ctx) { return Answer(h(ctx)); };
}

}  // namespace

Json LicenceJson(const Licence& l, bool with_text) {
  Json levels = Json::array();
  for (Level level : distribution::MaskLevels(l.accept_levels)) levels.push_back(LevelName(level));
  Json j = {
      {"object", "licence"}, {"model", l.model_id}, {"spdx_id", l.spdx_id.empty() ? Json(nullptr) : Json(l.spdx_id)},
      {"name", l.name},      {"sha256", l.sha256},  {"accept_levels", std::move(levels)},
      {"set_at", l.set_at}};
  if (with_text) j["text"] = l.text;
  return j;
}

void AddLicenceRoutes(Router& router, ApiDeps& d) {
  router.Add({"GET",
              "/v1/models/{model}/licence",
              "models.licence.get",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(VisibleModel visible, FindVisibleModel(d, ctx));
                ASSIGN_OR_RETURN(std::optional<Licence> licence, d.store.FindLicence(visible.model.id));
                if (!licence) {
                  return absl::NotFoundError(
                      fmt::format("model '{}' has no licence yet; its owner sets one with PUT /v1/models/{}/licence",
                                  visible.model.id, visible.model.id));
                }
                Json j = LicenceJson(*licence, /*with_text=*/true);
                const Level level = visible.levels.effective;
                j["your_level"] = LevelName(level);
                j["must_accept"] = level != Level::kOpen && !ctx.caller.IsAtLeast(Role::kOwner) &&
                                   distribution::MaskHas(licence->accept_levels, level);
                if (ctx.caller.anonymous()) {
                  j["accepted"] = nullptr;
                } else {
                  ASSIGN_OR_RETURN(bool accepted, d.store.HasAcceptedLicence(ctx.caller.principal->id, visible.model.id,
                                                                             licence->sha256));
                  j["accepted"] = accepted;
                }
                return j;
              })});
  router.Add({"PUT",
              "/v1/models/{model}/licence",
              "models.licence.set",
              Access::kOwner,
              ModelFrom::kPath,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(distribution::LicenceTerms terms, distribution::ParseLicenceTerms(ctx.body));
                ASSIGN_OR_RETURN(Licence licence, d.distribution.SetLicence(ctx.caller, ctx.model_id, terms));
                return LicenceJson(licence, /*with_text=*/false);
              })});
  router.Add({"POST",
              "/v1/models/{model}/licence/accept",
              "models.licence.accept",
              Access::kPrincipal,
              ModelFrom::kPath,
              {},
              {},
              Json200([&d](RequestContext& ctx) -> absl::StatusOr<Json> {
                ASSIGN_OR_RETURN(VisibleModel visible, FindVisibleModel(d, ctx));
                ASSIGN_OR_RETURN(std::string sha256, RequiredString(ctx.body, "sha256"));
                ASSIGN_OR_RETURN(Licence licence, d.distribution.AcceptLicence(ctx.caller, visible.model.id, sha256));
                Json j = LicenceJson(licence, /*with_text=*/false);
                j["accepted"] = true;
                return j;
              })});
}

}  // namespace aperture
