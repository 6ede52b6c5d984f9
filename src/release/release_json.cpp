#include "release/release_json.h"

#include "core/status_macros.h"
#include "core/time_format.h"
#include "fmt/format.h"

namespace aperture {
namespace {

Json DetailsOf(const std::string& text) { return ParseJson(text).value_or(Json::object()); }

}  // namespace

Json ReleaseViewJson(const ReleaseService::View& v) {
  Json domains = Json::array();
  for (const policy::DomainStatus& d : v.ceiling.domains) {
    domains.push_back({{"domain", d.domain},
                       {"tier", d.tier ? Json(policy::RiskTierName(*d.tier)) : Json("unknown")},
                       {"ceiling", LevelName(d.ceiling)},
                       {"reasons", ReasonsJson(d.reasons)}});
  }
  Json plan = Json::array();
  for (const policy::StageStatus& s : v.plan) {
    plan.push_back({{"level", LevelName(s.level)},
                    {"reached", s.reached},
                    {"gates_open", s.gates_open},
                    {"automatic", s.automatic},
                    {"opens_at", s.opens_at ? Json(FormatRfc3339(s.opens_at)) : Json(nullptr)},
                    {"waiting_for", ReasonsJson(s.waiting_for)}});
  }
  Json history = Json::array();
  for (const ReleaseEvent& e : v.history) {
    history.push_back({{"time", FormatRfc3339(e.time)},
                       {"kind", e.kind},
                       {"from", LevelName(e.from)},
                       {"to", LevelName(e.to)},
                       {"actor", e.actor},
                       {"reason", e.reason},
                       {"details", DetailsOf(e.details)}});
  }
  Json suspended = Json::array();
  for (const Grant& g : v.suspended_grants) {
    suspended.push_back({{"grant", g.id}, {"principal", g.principal_id}, {"level", LevelName(g.level)}});
  }
  // Each suite of the policy with its thresholds and the score the ceiling
  // counted (null before a finished run), so people can see the evidence.
  Json evaluations = Json::array();
  if (v.policy) {
    for (const policy::Domain& domain : v.policy->domains) {
      for (const policy::SuiteRule& suite : domain.suites) {
        Json e = {{"domain", domain.name},
                  {"suite", suite.name},
                  {"metric", suite.metric},
                  {"thresholds", {{"medium", suite.medium}, {"high", suite.high}, {"critical", suite.critical}}},
                  {"score", nullptr},
                  {"run", nullptr},
                  {"time", nullptr}};
        for (const policy::EvalScore& score : v.evidence.evals) {
          if (score.suite != suite.name) continue;
          e["score"] = score.score;
          e["run"] = score.run_id;
          e["time"] = FormatRfc3339(score.time);
          break;
        }
        evaluations.push_back(std::move(e));
      }
    }
  }
  // Finished runs, for the model's timeline (what each run's log entry says).
  Json evaluation_history = Json::array();
  for (const EvalRun& r : v.evaluation_runs) {
    evaluation_history.push_back({{"run", r.id},
                                  {"suite", r.suite_name},
                                  {"domain", r.suite_domain},
                                  {"version", r.suite_version},
                                  {"time", FormatRfc3339(r.finished_at)},
                                  {"metrics", DetailsOf(r.metrics)},
                                  {"tiers", DetailsOf(r.tiers)}});
  }
  return {{"object", "model.release"},
          {"evaluations", std::move(evaluations)},
          {"evaluation_history", std::move(evaluation_history)},
          {"policy_sha256", v.policy ? Json(v.policy->sha256) : Json(nullptr)},
          {"model", v.model.id},
          {"public_level", LevelName(v.model.public_level)},
          {"public_level_since", FormatRfc3339(v.model.level_since)},
          {"public_level_suspended", v.model.public_level > v.ceiling.level},
          {"ceiling", {{"level", LevelName(v.ceiling.level)}, {"reasons", ReasonsJson(v.ceiling.reasons)}}},
          {"domains", std::move(domains)},
          {"plan", std::move(plan)},
          {"suspended_grants", std::move(suspended)},
          {"history", std::move(history)}};
}

Json ProposalJson(const ReleaseService::Proposal& p) {
  return {{"object", "release.proposal"},
          {"allowed", p.allowed},
          {"from", LevelName(p.from)},
          {"to", LevelName(p.to)},
          {"reasons", ReasonsJson(p.reasons)}};
}

namespace {

absl::Status Malformed(std::string_view field, std::string_view what) {
  return absl::DataLossError(fmt::format("the evaluation run's '{}' {}", field, what));
}

absl::StatusOr<const Json*> ObjectField(const Json& j, std::string_view field) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_object()) return Malformed(field, "is not an object");
  return &*it;
}

absl::StatusOr<std::string> StringField(const Json& j, std::string_view field) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_string()) return Malformed(field, "is not a string");
  return it->get<std::string>();
}

absl::StatusOr<int64_t> CountField(const Json& j, std::string_view field) {
  auto it = j.find(field);
  if (it == j.end() || !it->is_number_integer() || it->get<int64_t>() < 0) {
    return Malformed(field, "is not a count");
  }
  return it->get<int64_t>();
}

}  // namespace

absl::StatusOr<EvalRunReport> ReadEvalRunJson(const Json& run) {
  if (!run.is_object()) return absl::DataLossError("the evaluation run is not a JSON object");
  EvalRunReport r;
  ASSIGN_OR_RETURN(r.id, StringField(run, "id"));
  ASSIGN_OR_RETURN(r.model, StringField(run, "model"));
  ASSIGN_OR_RETURN(r.state, StringField(run, "state"));
  ASSIGN_OR_RETURN(const Json* suite, ObjectField(run, "suite"));
  ASSIGN_OR_RETURN(r.suite, StringField(*suite, "name"));
  ASSIGN_OR_RETURN(const Json* progress, ObjectField(run, "progress"));
  ASSIGN_OR_RETURN(r.done, CountField(*progress, "done"));
  ASSIGN_OR_RETURN(r.total, CountField(*progress, "total"));
  ASSIGN_OR_RETURN(const Json* metrics, ObjectField(run, "metrics"));
  for (const auto& [name, value] : metrics->items()) {
    if (!value.is_number()) return Malformed("metrics." + name, "is not a number");
    r.metrics.emplace_back(name, value.get<double>());
  }
  ASSIGN_OR_RETURN(const Json* tiers, ObjectField(run, "tiers"));
  for (const auto& [domain, tier] : tiers->items()) {
    if (!tier.is_string()) return Malformed("tiers." + domain, "is not a string");
    r.tiers.emplace_back(domain, tier.get<std::string>());
  }
  if (auto error = run.find("error"); error != run.end() && !error->is_null()) {
    if (!error->is_string()) return Malformed("error", "is not a string");
    r.error = error->get<std::string>();
  }
  return r;
}

Json EvalRunJson(const EvalRun& r) {
  return {
      {"id", r.id},
      {"object", "eval.run"},
      {"model", r.model_id},
      {"suite",
       {{"name", r.suite_name}, {"domain", r.suite_domain}, {"version", r.suite_version}, {"sha256", r.suite_sha256}}},
      {"state", EvalRunStateName(r.state)},
      {"progress", {{"done", r.done_items}, {"total", r.total_items}}},
      {"metrics", DetailsOf(r.metrics)},
      {"tiers", DetailsOf(r.tiers)},
      {"results_sha256", r.results_sha256.empty() ? Json(nullptr) : Json(r.results_sha256)},
      {"started_by", r.started_by},
      {"created_at", r.created_at},
      {"finished_at", r.finished_at ? Json(r.finished_at) : Json(nullptr)},
      {"error", r.error.empty() ? Json(nullptr) : Json(r.error)}};
}

}  // namespace aperture
