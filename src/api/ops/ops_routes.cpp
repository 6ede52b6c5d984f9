#include "api/ops/ops_routes.h"

#include "api/views.h"
#include "fmt/format.h"

namespace aperture {
namespace {

// The scheduler's counters in the Prometheus text format. Engine time is the
// time inside Runner::Forward; step time adds sampling, text and callbacks,
// so their difference is the scheduler's own cost (docs/scheduler.md).
std::string SchedulerMetricsText(const scheduler::SchedulerMetrics& m) {
  std::string out;
  auto add = [&out](const char* name, const char* type, const char* help, auto value) {
    out += fmt::format("# HELP aperture_scheduler_{} {}\n# TYPE aperture_scheduler_{} {}\naperture_scheduler_{} {}\n",
                       name, help, name, type, name, value);
  };
  add("active_requests", "gauge", "Requests running now.", m.active_requests);
  add("active_sequences", "gauge", "Sequences (slots) in use now.", m.active_sequences);
  add("waiting_requests", "gauge", "Requests queued for a slot.", m.waiting_requests);
  add("steps_total", "counter", "Scheduler steps run.", m.steps);
  add("tokens_generated_total", "counter", "Generated tokens delivered.", m.tokens_generated);
  add("prompt_tokens_total", "counter", "Prompt and embedding input tokens run through the model.",
      m.prompt_tokens_processed);
  add("requests_finished_total", "counter", "Requests ended, for any reason.", m.requests_finished);
  add("requests_rejected_total", "counter", "Requests refused because the queue was full.", m.requests_rejected);
  add("engine_seconds_total", "counter", "Time inside the engine's forward pass.", m.engine_seconds);
  add("step_seconds_total", "counter", "Time of whole steps: engine, sampling, text and callbacks.", m.step_seconds);
  return out;
}

}  // namespace

void AddOpsRoutes(Router& router, ApiDeps& d) {
  router.Add({"GET", "/healthz", "healthz", Access::kAnyone, ModelFrom::kNone, {}, {}, [](RequestContext&) {
                return JsonResponse({{"status", "ok"}});
              }});
  router.Add({"GET", "/readyz", "readyz", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext&) {
                const Readiness r = d.readiness ? d.readiness() : Readiness{true, Json::object()};
                http::Response response = JsonResponse(
                    {{"status", r.ready ? "ready" : "not_ready"}, {"checks", r.checks}}, r.ready ? 200 : 503);
                if (!r.ready) response.SetHeader("Retry-After", "1");
                return response;
              }});
  router.Add({"GET", "/metrics", "metrics", Access::kAnyone, ModelFrom::kNone, {}, {}, [&d](RequestContext&) {
                http::Response r;
                r.content_type = "text/plain; version=0.0.4";
                r.body = d.metrics.Render() + SchedulerMetricsText(d.scheduler.metrics());
                return r;
              }});
}

}  // namespace aperture
