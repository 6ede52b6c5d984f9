#include "api/openai/model_routes.h"

#include "api/views.h"
#include "core/status_macros.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"

namespace aperture {
namespace {

// Authorization passed, but this capability has no implementation in this
// server yet (research access and evaluations arrive with their issues).
http::Response CapabilityMissing(RequestContext& ctx) {
  return http::ErrorResponse(
      501,
      fmt::format("'{}' on '{}' was authorized at level '{}', but this server does not offer it yet", ctx.route->name,
                  ctx.model_id, LevelName(ctx.decision->level)),
      "capability_unavailable");
}

}  // namespace

void AddModelRoutes(Router& router, ApiDeps& d) {
  router.Add({"GET", "/v1/models", "models.list", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
                auto models = d.store.ListModels();
                if (!models.ok()) return StatusResponse(models.status());
                Json data = Json::array();
                for (const Model& m : *models) {
                  auto levels = d.authorizer.LevelsOn(ctx.caller, m);
                  if (!levels.ok()) return StatusResponse(levels.status());
                  if (ModelVisible(ctx.caller, levels->held)) data.push_back(View(m, levels->effective, levels->held));
                }
                return JsonResponse({{"object", "list"}, {"data", std::move(data)}});
              }});
  router.Add(
      {"GET", "/v1/models/{model}", "models.get", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
         const std::string id = ctx.PathParam("model");
         auto model = d.store.FindModel(id);
         if (!model.ok()) return StatusResponse(model.status());
         absl::StatusOr<Authorizer::Levels> levels = Authorizer::Levels{};
         if (*model) levels = d.authorizer.LevelsOn(ctx.caller, **model);
         if (!levels.ok()) return StatusResponse(levels.status());
         if (!*model || !ModelVisible(ctx.caller, levels->held)) {
           ctx.Deny("model_not_found");
           return http::ErrorResponse(404,
                                      fmt::format("The model '{}' does not exist or you do not have access to it.", id),
                                      "model_not_found", "model");
         }
         return JsonResponse(View(**model, levels->effective, levels->held));
       }});

  struct PendingRoute {
    const char* path;
    const char* name;
    Capability capability;
  };
  for (const PendingRoute& r : {PendingRoute{"/v1/fine_tuning/jobs", "fine_tuning.jobs", Capability::kFinetune}}) {
    router.Add({"POST", r.path, r.name, Access::kAnyone, ModelFrom::kBody, r.capability, {}, CapabilityMissing});
  }
}

}  // namespace aperture
