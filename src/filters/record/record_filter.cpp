#include "filters/record/record_filter.h"

namespace aperture {

RequestRecord RecordFilter::Capture(const RequestContext& ctx) {
  RequestRecord r;
  r.route = ctx.route ? ctx.route->name : "unmatched";
  r.request_id = ctx.request_id;
  r.actor = ctx.caller.actor();
  r.key_id = ctx.caller.key_id;
  r.model_id = ctx.model_id;
  if (ctx.decision) r.level = LevelName(ctx.decision->level);
  r.outcome = ctx.outcome;
  r.reason = ctx.reason;
  r.capabilities = ctx.capabilities;
  r.start_micros = ctx.start_micros;
  return r;
}

void RecordFilter::Write(const RequestRecord& record, int status) {
  const int64_t now = clock_.NowMicros();
  metrics_.ObserveRequest(record.route, status, static_cast<double>(now - record.start_micros) / 1e6);
  metrics_.CountDecision(record.outcome, record.level.empty() ? "none" : record.level);

  Json capabilities = Json::array();
  for (Capability c : record.capabilities) capabilities.push_back(CapabilityName(c));
  Json details = {{"route", record.route}, {"status", status}, {"capabilities", std::move(capabilities)}};
  if (!record.key_id.empty()) details["key"] = record.key_id;
  if (!record.request_id.empty()) details["request_id"] = record.request_id;

  LogEvent e;
  e.type = "access.decision";
  e.time = now / 1'000'000;
  e.actor = record.actor;
  e.model = record.model_id;
  e.level = record.level;
  // A handler's own error after an allowed decision is still an allowed decision.
  e.outcome = record.outcome;
  e.reason = record.reason;
  e.details = CanonicalJson(details);
  recorder_.Record(std::move(e));
}

}  // namespace aperture
