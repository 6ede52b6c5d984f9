// The research API (docs/research.md): POST /v1/research/run (captures,
// interventions, logit lens, steered generation), /v1/research/patch
// (activation-patching sweeps) and /v1/research/directions (steering
// vectors from contrast inputs), and the `interventions` of chat and text
// completions at levels with `intervene`.
//
// Each route's planner (Route::research_demand) parses the body, loads the
// model and plans the request, so the research scope quota decides on
// exactly what it will read, write and cost; the handler submits the plan
// to the scheduler as a job and answers later (http::DeferredResponse).
// The job's result is formatted on the ResearchDesk's thread, recorded as
// one log entry (sites, operations, counts and SHA-256 commitments of the
// request and the result, never tensors or text) and answered with its
// receipt; an error after admission (deadline, an engine error) is answered
// with its own status and logged too. A client that leaves cancels the job.
#pragma once

#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "api/api_deps.h"
#include "engine/model/hooks.h"
#include "filters/request_context.h"
#include "filters/route.h"

namespace aperture {

void AddResearchRoutes(Router& router, ApiDeps& d);

// For the completion routes: the `interventions` of a body (nullopt when it
// has none), planned against the model; the steering hooks go to
// ctx.prepared for SteeringFrom.
absl::StatusOr<std::optional<ResearchDemand>> PlanSteering(ApiDeps& d, RequestContext& ctx);
// The steering hooks PlanSteering prepared (null when none), and what the
// log records about them.
struct Steering {
  std::shared_ptr<const engine::Hooks> hooks;
  Json record;  // {"sites_written": [...], "operations": [...]}
};
std::optional<Steering> SteeringFrom(const RequestContext& ctx);

}  // namespace aperture
