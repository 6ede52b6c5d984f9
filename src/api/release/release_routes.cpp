#include "api/release/release_routes.h"

#include "api/body_fields.h"
#include "api/views.h"
#include "core/status_macros.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"
#include "release/release_json.h"

namespace aperture {
namespace {

http::Response NotFound(RequestContext& ctx, const std::string& what) {
  ctx.Deny("not_found");
  return http::ErrorResponse(404, fmt::format("{} does not exist or you do not have access to it.", what), "not_found");
}

// Whether the caller may know the model exists (the release of a closed
// model is as secret as the model).
absl::StatusOr<bool> Visible(ApiDeps& d, const RequestContext& ctx, const std::string& model_id) {
  ASSIGN_OR_RETURN(std::optional<Model> model, d.store.FindModel(model_id));
  if (!model) return false;
  ASSIGN_OR_RETURN(Authorizer::Levels levels, d.authorizer.LevelsOn(ctx.caller, *model));
  return ModelVisible(ctx.caller, levels.held);
}

}  // namespace

void AddReleaseRoutes(Router& router, ApiDeps& d) {
  router.Add({"GET",
              "/v1/models/{model}/release",
              "release.show",
              Access::kAnyone,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) {
                auto visible = Visible(d, ctx, ctx.model_id);
                if (!visible.ok()) return StatusResponse(visible.status());
                if (!*visible) return NotFound(ctx, fmt::format("The model '{}'", ctx.model_id));
                auto view = d.release.Show(ctx.model_id);
                if (!view.ok()) return StatusResponse(view.status());
                return JsonResponse(ReleaseViewJson(*view));
              }});
  router.Add({"POST",
              "/v1/models/{model}/release",
              "release.propose",
              Access::kOwner,
              ModelFrom::kPath,
              {},
              {},
              [&d](RequestContext& ctx) {
                auto level = RequiredLevel(ctx.body, "level");
                if (!level.ok()) return StatusResponse(level.status());
                // A dry run answers as a proposal would and applies nothing.
                auto dry_run = OptionalBool(ctx.body, "dry_run");
                if (!dry_run.ok()) return StatusResponse(dry_run.status());
                const bool check_only = dry_run->value_or(false);
                auto proposal = check_only ? d.release.Check(ctx.caller, ctx.model_id, *level)
                                           : d.release.Propose(ctx.caller, ctx.model_id, *level);
                if (!proposal.ok()) return StatusResponse(proposal.status());
                Json body = ProposalJson(*proposal);
                body["dry_run"] = check_only;
                if (proposal->allowed) return JsonResponse(body);
                // Refused: the evidence does not support it. Every reason goes back.
                ctx.Deny("release_refused");
                body["error"] = {
                    {"message",
                     fmt::format("The release policy {} {} -> {}: {}", check_only ? "would refuse" : "refuses",
                                 LevelName(proposal->from), LevelName(proposal->to), ReasonsText(proposal->reasons))},
                    {"type", "invalid_request_error"},
                    {"code", "release_refused"},
                    {"param", "level"}};
                return JsonResponse(body, 409);
              }});
  router.Add({"POST",
              "/v1/admin/policy/reload",
              "admin.policy.reload",
              Access::kOwner,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) {
                absl::Status s = d.reload_policy(ctx.caller.actor());
                if (!s.ok()) {
                  ctx.Deny("bad_policy");
                  return http::ErrorResponse(
                      400, fmt::format("The policy was not changed: {}", std::string(s.message())), "bad_policy");
                }
                auto p = d.release.policy();
                return JsonResponse({{"object", "policy"}, {"source", p->source}, {"sha256", p->sha256}});
              }});

  router.Add({"GET",
              "/v1/admin/policy",
              "admin.policy.get",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext&) {
                auto stored = d.store.CurrentPolicy();
                if (!stored.ok()) return StatusResponse(stored.status());
                auto p = d.release.policy();
                Json body = {{"object", "policy"}, {"sha256", p->sha256}, {"source", p->source}};
                // The text in force (the default policy has none: every ceiling open).
                const bool matches = *stored && (*stored)->sha256 == p->sha256;
                body["text"] = matches ? Json((*stored)->text) : Json(nullptr);
                body["loaded_at"] = matches ? Json((*stored)->loaded_at) : Json(nullptr);
                body["default"] = !matches;
                return JsonResponse(body);
              }});

  // Evaluations: runs of the policy's suites, for callers with `evaluate`.
  router.Add({"GET",
              "/v1/evals/runs",
              "evals.runs.list",
              Access::kReviewer,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) {
                auto runs = d.store.ListEvalRuns(std::string(ctx.request.Query("model").value_or("")));
                if (!runs.ok()) return StatusResponse(runs.status());
                Json data = Json::array();
                for (const EvalRun& r : *runs) data.push_back(EvalRunJson(r));
                return JsonResponse({{"object", "list"}, {"data", std::move(data)}});
              }});
  router.Add({"POST",
              "/v1/evals/runs",
              "evals.runs.create",
              Access::kAnyone,
              ModelFrom::kBody,
              Capability::kEvaluate,
              {},
              [&d](RequestContext& ctx) {
                auto suite = RequiredString(ctx.body, "suite");
                if (!suite.ok()) return StatusResponse(suite.status());
                auto run = d.evals.Start(ctx.caller, ctx.model_id, *suite);
                if (!run.ok()) return StatusResponse(run.status());
                return JsonResponse(EvalRunJson(*run), 202);
              }});
  router.Add({"GET",
              "/v1/evals/runs/{id}",
              "evals.runs.get",
              Access::kAnyone,
              ModelFrom::kNone,
              {},
              {},
              [&d](RequestContext& ctx) {
                const std::string id = ctx.PathParam("id");
                auto run = d.evals.Find(id);
                if (!run.ok() && absl::IsNotFound(run.status())) {
                  return NotFound(ctx, fmt::format("The evaluation run '{}'", id));
                }
                if (!run.ok()) return StatusResponse(run.status());
                // Runs are their starter's (anonymous runs, of open models, anyone's), and the reviewers'.
                if (run->started_by != ctx.caller.actor() && !ctx.caller.IsAtLeast(Role::kReviewer)) {
                  return NotFound(ctx, fmt::format("The evaluation run '{}'", id));
                }
                Json body = EvalRunJson(*run);
                if (ctx.request.Query("items")) {
                  auto items = d.store.ListEvalItems(id);
                  if (!items.ok()) return StatusResponse(items.status());
                  Json list = Json::array();
                  for (const auto& [index, json] : *items) list.push_back(ParseJson(json).value_or(Json()));
                  body["items"] = std::move(list);
                }
                return JsonResponse(body);
              }});
}

}  // namespace aperture
