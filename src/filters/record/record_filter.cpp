#include "filters/record/record_filter.h"

namespace aperture {

void RecordFilter::Record(const RequestContext& ctx, const http::Response& response) {
  const std::string route = ctx.route ? ctx.route->name : "unmatched";
  const int64_t now = clock_.NowMicros();
  metrics_.ObserveRequest(route, response.status, static_cast<double>(now - ctx.start_micros) / 1e6);
  const std::string level = ctx.decision ? std::string(LevelName(ctx.decision->level)) : "";
  metrics_.CountDecision(ctx.outcome, level.empty() ? "none" : level);

  Json capabilities = Json::array();
  for (Capability c : ctx.capabilities) capabilities.push_back(CapabilityName(c));
  Json details = {{"route", route}, {"status", response.status}, {"capabilities", std::move(capabilities)}};
  if (!ctx.caller.key_id.empty()) details["key"] = ctx.caller.key_id;

  LogEvent e;
  e.type = "access.decision";
  e.time = now / 1'000'000;
  e.actor = ctx.caller.actor();
  e.model = ctx.model_id;
  e.level = level;
  // A handler's own error after an allowed decision is still an allowed decision.
  e.outcome = ctx.outcome;
  e.reason = ctx.reason;
  e.details = CanonicalJson(details);
  recorder_.Record(std::move(e));
}

}  // namespace aperture
