#include "api/research/research_routes.h"

#include <any>

#include "api/research/research_desk.h"
#include "core/hash.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "engine/version.h"
#include "filters/status_response.h"
#include "fmt/format.h"
#include "research/patch_job.h"
#include "research/plan.h"
#include "research/result_format.h"
#include "research/run_job.h"
#include "research/site_ops.h"
#include "research/spec_json.h"
#include "spdlog/spdlog.h"

namespace aperture {
namespace {

using research::Demand;
using research::Format;
using research::ResultDocument;

enum class Kind { kRun, kPatch, kDirections };

const char* RouteName(Kind k) {
  return k == Kind::kRun ? "research.run" : k == Kind::kPatch ? "research.patch" : "research.directions";
}

// What a planner leaves for its handler.
struct Prepared {
  Kind kind = Kind::kRun;
  std::optional<research::RunPlan> run;  // run and directions
  std::optional<research::PatchPlan> patch;
  research::DirectionsSpec directions;
};

struct PreparedSteering {
  std::shared_ptr<const engine::Hooks> hooks;
  Demand demand;
};

ResearchDemand ToAccess(const Demand& d, bool limits_apply) {
  return {{d.sites_read.begin(), d.sites_read.end()},
          {d.sites_written.begin(), d.sites_written.end()},
          d.forward_tokens,
          d.result_bytes,
          limits_apply};
}

std::vector<std::string> Unique(const std::vector<std::string>& v) {
  std::vector<std::string> out;
  for (const std::string& s : v)
    if (std::find(out.begin(), out.end(), s) == out.end()) out.push_back(s);
  return out;
}

// Registers and loads the model the request names (authz found it in the store).
absl::StatusOr<std::shared_ptr<const scheduler::LoadedModel>> LoadModel(ApiDeps& d, const Model& model) {
  absl::Status s = d.scheduler.RegisterModel(model.id, model.path);
  if (!s.ok() && !absl::IsAlreadyExists(s)) return s;
  absl::StatusOr<std::shared_ptr<const scheduler::LoadedModel>> loaded = d.scheduler.GetModel(model.id);
  if (!loaded.ok()) return absl::UnavailableError(std::string(loaded.status().message()));
  return loaded;
}

int64_t CapturedValues(const research::RunPlan& plan) {
  int64_t n = 0;
  for (const research::InputPlan& in : plan.inputs) {
    for (const research::SiteCapture& c : in.captures) {
      int64_t e = 1;
      for (int64_t dim : c.shape) e *= dim;
      n += e;
    }
  }
  return n;
}

absl::StatusOr<std::optional<ResearchDemand>> PlanResearch(ApiDeps& d, RequestContext& ctx, Kind kind) {
  ASSIGN_OR_RETURN(auto model, LoadModel(d, *ctx.decision->model));
  auto prepared = std::make_shared<Prepared>();
  prepared->kind = kind;
  const Demand* demand = nullptr;
  if (kind == Kind::kRun) {
    ASSIGN_OR_RETURN(research::RunSpec spec, research::ParseRunSpec(ctx.body));
    const std::optional<std::string_view> accept = ctx.request.Header("accept");
    if (accept && accept->find("application/octet-stream") != std::string_view::npos)
      spec.format = Format::kSafetensors;
    ASSIGN_OR_RETURN(prepared->run, research::PlanRun(spec, model));
    const int64_t values = CapturedValues(*prepared->run);
    if (prepared->run->format == Format::kJson && values > research::kMaxJsonValues) {
      absl::Status s = absl::InvalidArgumentError(fmt::format(
          "this request captures {} values; a JSON answer holds at most {} (4 MiB of float32): ask for \"format\": "
          "\"safetensors\" (or send Accept: application/octet-stream)",
          values, research::kMaxJsonValues));
      s.SetPayload("aperture/param", absl::Cord("format"));
      return s;
    }
    demand = &prepared->run->demand;
  } else if (kind == Kind::kPatch) {
    ASSIGN_OR_RETURN(research::PatchSpec spec, research::ParsePatchSpec(ctx.body));
    ASSIGN_OR_RETURN(prepared->patch, research::PlanPatch(spec, model));
    demand = &prepared->patch->demand;
  } else {
    ASSIGN_OR_RETURN(prepared->directions, research::ParseDirectionsSpec(ctx.body));
    ASSIGN_OR_RETURN(prepared->run, research::PlanDirections(prepared->directions, model));
    demand = &prepared->run->demand;
  }
  ResearchDemand out = ToAccess(*demand, /*limits_apply=*/true);
  ctx.prepared = std::shared_ptr<const Prepared>(std::move(prepared));
  return std::optional<ResearchDemand>(std::move(out));
}

// One research request from admission to answer.
struct Call {
  std::string id;
  Kind kind = Kind::kRun;
  std::string actor, owner, model_id, model_path, level, request_sha256;
  Demand demand;
  Format format = Format::kJson;
  std::shared_ptr<http::DeferredResponse> answer = std::make_shared<http::DeferredResponse>();
};

// On the desk's thread: records the request with its commitments and
// answers with the receipt, or answers the error.
void Answer(ApiDeps& d, const Call& c, absl::StatusOr<ResultDocument> doc, int64_t forward_tokens) {
  const int64_t now = d.clock.NowSeconds();
  Json details = {{"id", c.id},
                  {"route", RouteName(c.kind)},
                  {"engine", engine::kEngineVersion},
                  {"sites_read", Unique(c.demand.patterns_read)},
                  {"sites_written", Unique(c.demand.patterns_written)},
                  {"sites_read_count", c.demand.sites_read.size()},
                  {"sites_written_count", c.demand.sites_written.size()},
                  {"operations", c.demand.operations},
                  {"input_tokens", c.demand.input_tokens},
                  {"forward_tokens", forward_tokens},
                  {"result_bytes", c.demand.result_bytes},
                  {"request_sha256", c.request_sha256}};
  absl::StatusOr<std::string> digest = d.research.FileSha256(c.model_path);
  details["model_sha256"] = digest.ok() ? *digest : "";
  if (!doc.ok() || !digest.ok()) {
    const absl::Status error = doc.ok() ? digest.status() : doc.status();
    // An engine failure is a 500 that says so; its details stay in the server's log.
    const bool engine = HttpStatusFor(error.code()) == 500;
    details["status"] = absl::StatusCodeToString(error.code());
    d.recorder.Record(LogEvent{RouteName(c.kind), now, c.actor, c.model_id, c.level, "error",
                               engine ? "engine_error" : "research_failed", CanonicalJson(details)});
    d.usage.AddResearch(c.owner, c.model_id, now, forward_tokens);
    if (engine) spdlog::error("research request {} failed: {}", c.id, std::string(error.message()));
    c.answer->Resolve(engine
                          ? http::ErrorResponse(500, "the model failed while running this research request; try again",
                                                "engine_error")
                          : StatusResponse(error));
    return;
  }
  doc->fields["id"] = c.id;
  doc->fields["usage"] = {{"input_tokens", c.demand.input_tokens},
                          {"forward_tokens", forward_tokens},
                          {"result_bytes", c.demand.result_bytes}};
  const std::string result_sha256 = doc->Sha256();
  details["result_sha256"] = result_sha256;
  details["status"] = "OK";
  absl::StatusOr<Json> receipt = d.research.RecordWithReceipt(
      LogEvent{RouteName(c.kind), now, c.actor, c.model_id, c.level, "ok", "ok", CanonicalJson(details)});
  d.usage.AddResearch(c.owner, c.model_id, now, forward_tokens);
  if (!receipt.ok()) {
    // A result is answered on the record or not at all.
    c.answer->Resolve(StatusResponse(absl::UnavailableError(fmt::format(
        "the result could not be recorded in the log ({}); retry", std::string(receipt.status().message())))));
    return;
  }
  (*receipt)["request_sha256"] = c.request_sha256;
  (*receipt)["result_sha256"] = result_sha256;
  (*receipt)["model_sha256"] = *digest;
  const Json extra = {{"receipt", *receipt}};
  http::Response r;
  r.content_type = c.format == Format::kSafetensors ? "application/octet-stream" : "application/json";
  r.body = c.format == Format::kSafetensors ? doc->SafetensorsBody(extra) : doc->JsonBody(extra);
  r.SetHeader("X-Aperture-Level", c.level);
  r.SetHeader("X-Aperture-Research-Id", c.id);
  c.answer->Resolve(std::move(r));
}

http::Response Submitted(ApiDeps& d, const std::shared_ptr<Call>& call, std::shared_ptr<scheduler::EngineJob> job) {
  absl::StatusOr<scheduler::RequestId> id =
      d.scheduler.SubmitJob({.model = call->model_id,
                             .job = std::move(job),
                             .deadline_micros = d.clock.NowMicros() + d.config.serving.request_timeout_ms * 1000});
  if (!id.ok()) {
    http::Response r = StatusResponse(id.status());
    if (absl::IsUnavailable(id.status())) r.SetHeader("Retry-After", "1");
    return r;
  }
  scheduler::Scheduler* sched = &d.scheduler;
  call->answer->OnCancel([sched, job_id = *id] { sched->Cancel(job_id); });
  return http::LaterResponse(call->answer);
}

http::Response HandleResearch(ApiDeps& d, RequestContext& ctx) {
  const auto* holder = std::any_cast<std::shared_ptr<const Prepared>>(&ctx.prepared);
  if (holder == nullptr || *holder == nullptr) {
    return StatusResponse(absl::InternalError("the research request was not planned"));
  }
  const Prepared& p = **holder;
  auto call = std::make_shared<Call>();
  call->id = NewId("rsr");
  call->kind = p.kind;
  call->actor = ctx.caller.actor();
  call->owner = ctx.caller.anonymous() ? "anonymous" : ctx.caller.principal->id;
  call->model_id = ctx.model_id;
  call->model_path = ctx.decision->model->path;
  call->level = std::string(LevelName(ctx.decision->level));
  call->request_sha256 = Sha256Hex(ctx.request.body);
  ApiDeps* deps = &d;
  if (p.kind == Kind::kPatch) {
    call->demand = p.patch->demand;
    auto plan = std::make_shared<const research::PatchPlan>(*p.patch);
    auto job = std::make_shared<research::PatchJob>(*plan, [deps, call, plan](absl::StatusOr<research::PatchResult> r) {
      deps->research.Post([deps, call, plan, r = std::move(r)]() mutable {
        if (!r.ok()) return Answer(*deps, *call, r.status(), 0);
        Answer(*deps, *call, research::PatchDocument(*plan, *r), r->forward_tokens);
      });
    });
    return Submitted(d, call, std::move(job));
  }
  call->demand = p.run->demand;
  call->format = p.run->format;
  auto plan = std::make_shared<const research::RunPlan>(*p.run);
  const Kind kind = p.kind;
  const research::DirectionsSpec directions = p.directions;
  auto job = std::make_shared<research::RunJob>(
      *plan, [deps, call, plan, kind, directions](absl::StatusOr<research::RunResult> r) {
        deps->research.Post([deps, call, plan, kind, directions, r = std::move(r)]() mutable {
          int64_t tokens = 0;
          if (r.ok()) {
            for (const research::InputResult& in : r->inputs) tokens += in.tokens.size() + in.generated.size();
          }
          if (!r.ok()) return Answer(*deps, *call, r.status(), tokens);
          Answer(*deps, *call,
                 kind == Kind::kDirections
                     ? research::DirectionDocument(*plan, *r, static_cast<int>(directions.positive.size()),
                                                   directions.normalize, directions.hook)
                     : research::RunDocument(*plan, *std::move(r)),
                 tokens);
        });
      });
  return Submitted(d, call, std::move(job));
}

bool HasInterventions(const Json& body) {
  auto it = body.find("interventions");
  return it != body.end() && it->is_array() && !it->empty();
}

}  // namespace

absl::StatusOr<std::optional<ResearchDemand>> PlanSteering(ApiDeps& d, RequestContext& ctx) {
  auto it = ctx.body.find("interventions");
  if (it == ctx.body.end() || it->is_null()) return std::optional<ResearchDemand>();
  ASSIGN_OR_RETURN(std::vector<research::Intervention> spec,
                   research::ParseInterventions(*it, "interventions", /*allow_inputs=*/false));
  if (spec.empty()) return std::optional<ResearchDemand>();
  ASSIGN_OR_RETURN(auto model, LoadModel(d, *ctx.decision->model));
  ASSIGN_OR_RETURN(research::ChatSteering steering, research::PlanChatInterventions(spec, *model));
  auto prepared = std::make_shared<PreparedSteering>();
  prepared->demand = steering.demand;
  prepared->hooks = research::SteeringHooks(std::move(steering.interventions), model->model->config());
  ResearchDemand out = ToAccess(prepared->demand, /*limits_apply=*/false);
  ctx.prepared = std::shared_ptr<const PreparedSteering>(std::move(prepared));
  return std::optional<ResearchDemand>(std::move(out));
}

std::optional<Steering> SteeringFrom(const RequestContext& ctx) {
  const auto* holder = std::any_cast<std::shared_ptr<const PreparedSteering>>(&ctx.prepared);
  if (holder == nullptr || *holder == nullptr) return std::nullopt;
  const PreparedSteering& p = **holder;
  return Steering{p.hooks, Json{{"sites_written", Unique(p.demand.patterns_written)},
                                {"sites_written_count", p.demand.sites_written.size()},
                                {"operations", p.demand.operations}}};
}

void AddResearchRoutes(Router& router, ApiDeps& d) {
  // A run reads (inspect); one that intervenes also needs intervene.
  auto run_caps = [](const Json& body) {
    return HasInterventions(body) ? std::vector<Capability>{Capability::kIntervene} : std::vector<Capability>{};
  };
  Route run{"POST",           "/v1/research/run",
            "research.run",   Access::kAnyone,
            ModelFrom::kBody, Capability::kInspect,
            run_caps,         [&d](RequestContext& ctx) { return HandleResearch(d, ctx); }};
  run.research_demand = [&d](RequestContext& ctx) { return PlanResearch(d, ctx, Kind::kRun); };
  router.Add(std::move(run));
  // A sweep writes every site it names and reads the clean run's values there.
  Route patch{"POST",
              "/v1/research/patch",
              "research.patch",
              Access::kAnyone,
              ModelFrom::kBody,
              Capability::kIntervene,
              [](const Json&) { return std::vector<Capability>{Capability::kInspect}; },
              [&d](RequestContext& ctx) { return HandleResearch(d, ctx); }};
  patch.research_demand = [&d](RequestContext& ctx) { return PlanResearch(d, ctx, Kind::kPatch); };
  router.Add(std::move(patch));
  Route directions{"POST",
                   "/v1/research/directions",
                   "research.directions",
                   Access::kAnyone,
                   ModelFrom::kBody,
                   Capability::kInspect,
                   {},
                   [&d](RequestContext& ctx) { return HandleResearch(d, ctx); }};
  directions.research_demand = [&d](RequestContext& ctx) { return PlanResearch(d, ctx, Kind::kDirections); };
  router.Add(std::move(directions));
}

}  // namespace aperture
