#include "release/release_service.h"

#include <set>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {
namespace {

// The score a run gives a suite: the policy's metric for it, else the
// suite's main metric.
std::optional<double> Score(const Json& metrics, const policy::SuiteRule* rule) {
  for (const std::string& name : {rule ? rule->metric : std::string("acc"), std::string("accuracy")}) {
    auto it = metrics.find(name);
    if (it != metrics.end() && it->is_number()) return it->get<double>();
    if (rule) break;
  }
  return std::nullopt;
}

}  // namespace

std::string ReasonsText(const std::vector<policy::Reason>& reasons) {
  std::string out;
  for (const policy::Reason& r : reasons) {
    if (!out.empty()) out += "; ";
    out += r.message;
  }
  return out;
}

Json ReasonsJson(const std::vector<policy::Reason>& reasons) {
  Json out = Json::array();
  for (const policy::Reason& r : reasons) out.push_back({{"code", r.code}, {"message", r.message}});
  return out;
}

ReleaseService::ReleaseService(Store& store, Recorder& recorder, const Clock& clock,
                               std::shared_ptr<const policy::Policy> policy)
    : store_(store), recorder_(recorder), clock_(clock), policy_(std::move(policy)) {}

std::shared_ptr<const policy::Policy> ReleaseService::policy() const {
  absl::MutexLock lock(&policy_mu_);
  return policy_;
}

absl::Status ReleaseService::SetPolicy(std::shared_ptr<const policy::Policy> policy) {
  {
    absl::MutexLock lock(&policy_mu_);
    policy_ = std::move(policy);
  }
  return RefreshAll();
}

absl::StatusOr<Model> ReleaseService::FindModel(const std::string& model_id) const {
  ASSIGN_OR_RETURN(std::optional<Model> model, store_.FindModel(model_id));
  if (!model) return absl::NotFoundError(fmt::format("no model with id '{}'", model_id));
  return *std::move(model);
}

absl::StatusOr<policy::Evidence> ReleaseService::EvidenceFor(const std::string& model_id) const {
  std::shared_ptr<const policy::Policy> p = policy();
  ASSIGN_OR_RETURN(std::vector<EvalRun> runs, store_.ListEvalRuns(model_id));
  policy::Evidence evidence;
  std::set<std::string> seen;
  for (const EvalRun& run : runs) {  // newest first
    if (run.state != EvalRunState::kFinished || seen.contains(run.suite_name)) continue;
    absl::StatusOr<Json> metrics = ParseJson(run.metrics);
    if (!metrics.ok()) continue;
    std::optional<double> score = Score(*metrics, p->FindSuite(run.suite_name));
    if (!score) continue;
    seen.insert(run.suite_name);
    evidence.evals.push_back({run.suite_name, run.id, *score, run.finished_at});
  }
  // Findings arrive with the findings capability; until then none are open.
  return evidence;
}

absl::StatusOr<policy::Ceiling> ReleaseService::Refresh(const std::string& model_id) {
  std::shared_ptr<const policy::Policy> p = policy();
  absl::MutexLock lock(&change_mu_);
  ASSIGN_OR_RETURN(Model model, FindModel(model_id));
  return RefreshLocked(model, *p);
}

absl::Status ReleaseService::RefreshAll() {
  ASSIGN_OR_RETURN(std::vector<Model> models, store_.ListModels());
  for (const Model& m : models) RETURN_IF_ERROR(Refresh(m.id).status());
  return absl::OkStatus();
}

absl::StatusOr<policy::Ceiling> ReleaseService::RefreshLocked(const Model& model, const policy::Policy& p) {
  ASSIGN_OR_RETURN(policy::Evidence evidence, EvidenceFor(model.id));
  policy::Ceiling ceiling = policy::ComputeCeiling(p, evidence);
  const std::string why = ReasonsText(ceiling.reasons);
  if (ceiling.level == model.ceiling && why == model.ceiling_reason) return ceiling;

  ReleaseEvent e;
  e.model_id = model.id;
  e.time = clock_.NowSeconds();
  e.kind = "ceiling";
  e.from = model.ceiling;
  e.to = ceiling.level;
  e.actor = "policy";
  e.reason = why;
  e.details = CanonicalJson({{"reasons", ReasonsJson(ceiling.reasons)}, {"policy_sha256", p.sha256}});
  RETURN_IF_ERROR(store_.AddReleaseEvent(e, Store::ReleaseChange::kCeiling));
  if (ceiling.level != model.ceiling) {
    RETURN_IF_ERROR(Log("release.ceiling", "policy", model, ceiling.level, "ok",
                        ceiling.level < model.ceiling ? "lowered" : "raised",
                        {{"from", LevelName(model.ceiling)},
                         {"to", LevelName(ceiling.level)},
                         {"reasons", ReasonsJson(ceiling.reasons)},
                         {"policy_sha256", p.sha256}}));
    RETURN_IF_ERROR(RecordSuspensions(model, model.ceiling, ceiling.level, why));
  }
  return ceiling;
}

absl::Status ReleaseService::RecordSuspensions(const Model& model, Level old_ceiling, Level new_ceiling,
                                               const std::string& why) {
  // Something held at `held` was usable up to min(held, old) and is now
  // usable up to min(held, new); it is suspended (or restored) when those differ.
  auto changed = [&](Level held) { return std::min(held, old_ceiling) != std::min(held, new_ceiling); };
  const bool lowered = new_ceiling < old_ceiling;
  const std::string type = lowered ? "release.suspended" : "release.restored";
  auto details = [&](Level held) {
    return Json{{"held", LevelName(held)},
                {"usable", LevelName(std::min(held, new_ceiling))},
                {"ceiling", LevelName(new_ceiling)},
                {"why", why}};
  };
  if (model.public_level >= Level::kHosted && changed(model.public_level)) {
    Json d = details(model.public_level);
    d["what"] = "public_level";
    RETURN_IF_ERROR(Log(type, "policy", model, model.public_level, "ok", "ceiling", std::move(d)));
  }
  ASSIGN_OR_RETURN(std::vector<Grant> grants, store_.ListGrants("", model.id));
  const int64_t now = clock_.NowSeconds();
  for (const Grant& g : grants) {
    if (g.revoked_at != 0 || (g.expires_at != 0 && g.expires_at <= now) || !changed(g.level)) continue;
    Json d = details(g.level);
    d["what"] = "grant";
    d["grant"] = g.id;
    d["principal"] = g.principal_id;
    RETURN_IF_ERROR(Log(type, "policy", model, g.level, "ok", "ceiling", std::move(d)));
  }
  return absl::OkStatus();
}

absl::Status ReleaseService::ChangeLevel(const Model& model, Level to, const std::string& kind,
                                         const std::string& actor, const std::vector<policy::Reason>& reasons) {
  ReleaseEvent e;
  e.model_id = model.id;
  e.time = clock_.NowSeconds();
  e.kind = kind;
  e.from = model.public_level;
  e.to = to;
  e.actor = actor;
  e.reason = fmt::format("{} -> {}", LevelName(model.public_level), LevelName(to));
  e.details = CanonicalJson({{"reasons", ReasonsJson(reasons)}});
  RETURN_IF_ERROR(store_.AddReleaseEvent(e, Store::ReleaseChange::kPublicLevel));
  return Log(kind == "advanced" ? "release.advanced" : "release.changed", actor, model, to, "ok", kind,
             {{"from", LevelName(model.public_level)}, {"to", LevelName(to)}, {"reasons", ReasonsJson(reasons)}});
}

absl::StatusOr<ReleaseService::Proposal> ReleaseService::Decide(const policy::Policy& policy, const Model& model,
                                                                Level target) const {
  ASSIGN_OR_RETURN(policy::Evidence evidence, EvidenceFor(model.id));
  policy::ProposalDecision decision =
      policy::EvaluateProposal(policy, evidence, {model.public_level, model.level_since}, target, clock_.NowSeconds());
  return Proposal{decision.allowed, model.public_level, target, std::move(decision.reasons)};
}

absl::StatusOr<ReleaseService::Proposal> ReleaseService::Propose(const Caller& actor, const std::string& model_id,
                                                                 Level target) {
  if (!actor.IsAtLeast(Role::kOwner)) {
    return absl::PermissionDeniedError("only owners may propose a release change");
  }
  std::shared_ptr<const policy::Policy> p = policy();
  absl::MutexLock lock(&change_mu_);
  ASSIGN_OR_RETURN(Model model, FindModel(model_id));
  // The decision uses the ceiling as the evidence stands now.
  ASSIGN_OR_RETURN(policy::Ceiling ceiling, RefreshLocked(model, *p));
  ASSIGN_OR_RETURN(model, FindModel(model_id));
  ASSIGN_OR_RETURN(Proposal out, Decide(*p, model, target));
  RETURN_IF_ERROR(Log("release.proposed", actor.actor(), model, target, out.allowed ? "allow" : "deny",
                      out.allowed ? "ok" : "policy",
                      {{"from", LevelName(model.public_level)},
                       {"to", LevelName(target)},
                       {"reasons", ReasonsJson(out.reasons)},
                       {"policy_sha256", p->sha256}}));
  if (!out.allowed) {
    ReleaseEvent e;
    e.model_id = model.id;
    e.time = clock_.NowSeconds();
    e.kind = "refused";
    e.from = model.public_level;
    e.to = target;
    e.actor = actor.actor();
    e.reason = ReasonsText(out.reasons);
    e.details = CanonicalJson({{"reasons", ReasonsJson(out.reasons)}});
    RETURN_IF_ERROR(store_.AddReleaseEvent(e, Store::ReleaseChange::kNone));
    return out;
  }
  if (target != model.public_level) RETURN_IF_ERROR(ChangeLevel(model, target, "changed", actor.actor(), out.reasons));
  return out;
}

absl::StatusOr<ReleaseService::Proposal> ReleaseService::Check(const Caller& actor, const std::string& model_id,
                                                               Level target) {
  if (!actor.IsAtLeast(Role::kOwner)) {
    return absl::PermissionDeniedError("only owners may check a release change");
  }
  std::shared_ptr<const policy::Policy> p = policy();
  // Under the change lock, so the answer is about one consistent state.
  absl::MutexLock lock(&change_mu_);
  ASSIGN_OR_RETURN(Model model, FindModel(model_id));
  ASSIGN_OR_RETURN(Proposal out, Decide(*p, model, target));
  RETURN_IF_ERROR(Log("release.checked", actor.actor(), model, target, out.allowed ? "allow" : "deny",
                      out.allowed ? "ok" : "policy",
                      {{"from", LevelName(model.public_level)},
                       {"to", LevelName(target)},
                       {"dry_run", true},
                       {"reasons", ReasonsJson(out.reasons)},
                       {"policy_sha256", p->sha256}}));
  return out;
}

absl::StatusOr<int> ReleaseService::AdvanceDue() {
  std::shared_ptr<const policy::Policy> p = policy();
  ASSIGN_OR_RETURN(std::vector<Model> models, store_.ListModels());
  int moved = 0;
  for (const Model& listed : models) {
    absl::MutexLock lock(&change_mu_);
    ASSIGN_OR_RETURN(Model model, FindModel(listed.id));
    ASSIGN_OR_RETURN(policy::Evidence evidence, EvidenceFor(model.id));
    std::optional<Level> next =
        policy::AutoAdvance(*p, evidence, {model.public_level, model.level_since}, clock_.NowSeconds());
    if (!next || *next == model.public_level) continue;
    RETURN_IF_ERROR(ChangeLevel(model, *next, "advanced", "policy",
                                {{"stage_open", fmt::format("every gate of stage {} is open", LevelName(*next))}}));
    ++moved;
  }
  return moved;
}

absl::StatusOr<ReleaseService::View> ReleaseService::Show(const std::string& model_id) {
  std::shared_ptr<const policy::Policy> p = policy();
  View v;
  ASSIGN_OR_RETURN(v.model, FindModel(model_id));
  ASSIGN_OR_RETURN(v.evidence, EvidenceFor(model_id));
  v.policy = p;
  v.ceiling = policy::ComputeCeiling(*p, v.evidence);
  v.plan = policy::PlanStatus(*p, v.evidence, {v.model.public_level, v.model.level_since}, clock_.NowSeconds());
  ASSIGN_OR_RETURN(v.history, store_.ListReleaseEvents(model_id));
  ASSIGN_OR_RETURN(std::vector<EvalRun> runs, store_.ListEvalRuns(model_id));
  for (EvalRun& r : runs) {
    if (v.evaluation_runs.size() == kEvaluationHistory) break;
    if (r.state == EvalRunState::kFinished) v.evaluation_runs.push_back(std::move(r));
  }
  ASSIGN_OR_RETURN(std::vector<Grant> grants, store_.ListGrants("", model_id));
  const int64_t now = clock_.NowSeconds();
  for (Grant& g : grants) {
    if (g.revoked_at == 0 && (g.expires_at == 0 || g.expires_at > now) && g.level > v.model.ceiling) {
      v.suspended_grants.push_back(std::move(g));
    }
  }
  return v;
}

absl::Status ReleaseService::Log(const std::string& type, const std::string& actor, const Model& model, Level level,
                                 const std::string& outcome, const std::string& reason, Json details) {
  LogEvent e;
  e.type = type;
  e.time = clock_.NowSeconds();
  e.actor = actor;
  e.model = model.id;
  e.level = std::string(LevelName(level));
  e.outcome = outcome;
  e.reason = reason;
  e.details = CanonicalJson(details);
  return recorder_.RecordDurably(std::move(e));
}

}  // namespace aperture
