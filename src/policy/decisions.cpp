// The policy's decisions: ceilings from evidence, proposals, the stage plan.
#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "core/time_format.h"
#include "fmt/format.h"
#include "policy/policy.h"

namespace aperture::policy {
namespace {

constexpr std::array<std::string_view, 4> kTierNames = {"low", "medium", "high", "critical"};

template <typename Enum>
std::optional<Enum> ByName(std::string_view name) {
  for (size_t i = 0; i < kTierNames.size(); ++i) {
    if (kTierNames[i] == name) return static_cast<Enum>(i);
  }
  return std::nullopt;
}

const EvalScore* Latest(const Evidence& evidence, std::string_view suite) {
  for (const EvalScore& e : evidence.evals) {
    if (e.suite == suite) return &e;
  }
  return nullptr;
}

// Why `rule`'s score puts its domain at `tier`.
std::string ScoreMessage(const std::string& domain, const SuiteRule& rule, const EvalScore& e, RiskTier tier,
                         Level ceiling) {
  if (tier == RiskTier::kLow) {
    return fmt::format("{}: suite {} {} {:.3f} is below the medium threshold {:.3f}: tier low (ceiling {})", domain,
                       rule.name, rule.metric, e.score, rule.medium, LevelName(ceiling));
  }
  const double threshold = tier == RiskTier::kCritical ? rule.critical
                           : tier == RiskTier::kHigh   ? rule.high
                                                       : rule.medium;
  return fmt::format("{}: suite {} {} {:.3f} >= {} threshold {:.3f}: tier {} (ceiling {})", domain, rule.name,
                     rule.metric, e.score, RiskTierName(tier), threshold, RiskTierName(tier), LevelName(ceiling));
}

// A domain's tier is the highest its suites' latest scores reach; a suite
// never evaluated makes it unknown, which holds the ceiling at
// unknown_ceiling (a known critical tier still holds it lower).
DomainStatus Assess(const Policy& policy, const Domain& domain, const Evidence& evidence) {
  std::optional<RiskTier> highest;
  std::vector<std::pair<RiskTier, Reason>> scored;
  std::vector<Reason> missing;
  for (const SuiteRule& rule : domain.suites) {
    const EvalScore* e = Latest(evidence, rule.name);
    if (!e) {
      missing.push_back(
          {"domain_unknown", fmt::format("{}: suite {} has no evaluation yet; an unevaluated domain holds the "
                                         "ceiling at {}",
                                         domain.name, rule.name, LevelName(policy.unknown_ceiling))});
      continue;
    }
    if (std::isnan(e->score)) {  // no usable score is no evidence
      missing.push_back({"domain_unknown", fmt::format("{}: suite {}'s latest run {} has no usable {} score; an "
                                                       "unevaluated domain holds the ceiling at {}",
                                                       domain.name, rule.name, e->run_id, rule.metric,
                                                       LevelName(policy.unknown_ceiling))});
      continue;
    }
    const RiskTier tier = TierFor(rule, e->score);
    scored.push_back(
        {tier,
         {"domain_tier", ScoreMessage(domain.name, rule, *e, tier, policy.tier_ceiling[static_cast<int>(tier)])}});
    highest = std::max(highest.value_or(tier), tier);
  }
  DomainStatus status{domain.name, missing.empty() ? highest : std::nullopt, Level::kOpen, std::move(missing)};
  if (!status.reasons.empty()) status.ceiling = policy.unknown_ceiling;
  if (highest) {
    status.ceiling = std::min(status.ceiling, policy.tier_ceiling[static_cast<int>(*highest)]);
    for (auto& [tier, reason] : scored) {
      if (tier == *highest) status.reasons.push_back(std::move(reason));
    }
  }
  return status;
}

// The gates of `stage` (the plan's next stage) that are still closed at `now`.
std::vector<Reason> ClosedGates(const Stage& stage, const Evidence& evidence, const ReleaseState& state, int64_t now,
                                int64_t* opens_at) {
  std::vector<Reason> out;
  const std::string_view name = LevelName(stage.level);
  if (stage.min_seconds_at_previous > 0) {
    constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
    const int64_t opens =
        state.since > kMax - stage.min_seconds_at_previous ? kMax : state.since + stage.min_seconds_at_previous;
    if (opens_at) *opens_at = opens;
    if (now < opens) {
      out.push_back({"stage_time", fmt::format("stage {}: {} more at {} (opens {})", name, FormatWait(opens - now),
                                               LevelName(state.public_level), FormatRfc3339(opens))});
    }
  }
  for (const Stage::FreshEval& fe : stage.fresh_evals) {
    const EvalScore* e = Latest(evidence, fe.suite);
    if (!e) {
      out.push_back({"stage_eval_missing",
                     fmt::format("stage {}: needs an evaluation of suite {} no older than {}; there is none", name,
                                 fe.suite, FormatWait(fe.max_age_seconds))});
    } else if (now - e->time > fe.max_age_seconds) {
      out.push_back({"stage_eval_stale",
                     fmt::format("stage {}: needs an evaluation of suite {} no older than {}; the latest (run {}, "
                                 "{}) is {} old",
                                 name, fe.suite, FormatWait(fe.max_age_seconds), e->run_id, FormatRfc3339(e->time),
                                 FormatWait(now - e->time))});
    }
  }
  if (stage.blocking_severity) {
    for (const OpenFinding& f : evidence.findings) {
      if (f.severity >= *stage.blocking_severity) {
        out.push_back(
            {"stage_finding",
             fmt::format("stage {}: finding {} ({}, {}) is open; the stage needs no open finding at {} "
                         "or above",
                         name, f.id, SeverityName(f.severity), f.title, SeverityName(*stage.blocking_severity))});
      }
    }
  }
  return out;
}

const Stage* NextStage(const Policy& policy, Level current) {
  for (const Stage& s : policy.stages) {
    if (s.level > current) return &s;
  }
  return nullptr;
}

}  // namespace

std::string_view RiskTierName(RiskTier tier) { return kTierNames[static_cast<int>(tier)]; }
std::optional<RiskTier> ParseRiskTier(std::string_view name) { return ByName<RiskTier>(name); }
std::string_view SeverityName(Severity severity) { return kTierNames[static_cast<int>(severity)]; }
std::optional<Severity> ParseSeverity(std::string_view name) { return ByName<Severity>(name); }

std::string FormatWait(int64_t seconds) {
  constexpr int64_t kMinute = 60, kHour = 3600, kDay = 86400;
  // Two units at most, so round up to the smaller one shown.
  auto round_up = [](int64_t s, int64_t unit) { return (s + unit - 1) / unit * unit; };
  auto two = [](int64_t big, std::string_view big_unit, int64_t small, std::string_view small_unit) {
    return small > 0 ? fmt::format("{}{} {}{}", big, big_unit, small, small_unit) : fmt::format("{}{}", big, big_unit);
  };
  if (seconds <= 0) return "0s";
  if (seconds < kMinute) return fmt::format("{}s", seconds);
  if (seconds < kHour) return two(seconds / kMinute, "m", seconds % kMinute, "s");
  if (seconds < kDay) {
    seconds = round_up(seconds, kMinute);
    if (seconds == kDay) return "1d";
    return two(seconds / kHour, "h", seconds % kHour / kMinute, "m");
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  seconds = seconds > kMax - kHour ? kMax / kHour * kHour : round_up(seconds, kHour);
  return two(seconds / kDay, "d", seconds % kDay / kHour, "h");
}

RiskTier TierFor(const SuiteRule& rule, double score) {
  if (std::isnan(score) || score >= rule.critical) return RiskTier::kCritical;  // fail closed
  if (score >= rule.high) return RiskTier::kHigh;
  if (score >= rule.medium) return RiskTier::kMedium;
  return RiskTier::kLow;
}

Ceiling ComputeCeiling(const Policy& policy, const Evidence& evidence) {
  Ceiling c;
  for (const Domain& d : policy.domains) {
    DomainStatus status = Assess(policy, d, evidence);
    c.level = std::min(c.level, status.ceiling);
    if (status.ceiling < Level::kOpen) c.reasons.insert(c.reasons.end(), status.reasons.begin(), status.reasons.end());
    c.domains.push_back(std::move(status));
  }
  for (const OpenFinding& f : evidence.findings) {
    if (!f.confirmed) continue;
    std::optional<Level> held;
    for (const RollbackRule& rule : policy.rollback) {
      if (f.severity >= rule.severity) held = std::min(held.value_or(Level::kOpen), rule.ceiling);
    }
    if (!held) continue;
    FindingStatus status{f.id,
                         f.severity,
                         *held,
                         {"finding", fmt::format("finding {} ({}, confirmed: {}) holds the ceiling at {} until "
                                                 "resolved",
                                                 f.id, SeverityName(f.severity), f.title, LevelName(*held))}};
    c.level = std::min(c.level, *held);
    c.reasons.push_back(status.reason);
    c.findings.push_back(std::move(status));
  }
  return c;
}

std::vector<Reason> HeldBelow(const Ceiling& ceiling, Level level) {
  std::vector<Reason> out;
  for (const DomainStatus& d : ceiling.domains) {
    if (d.ceiling < level) out.insert(out.end(), d.reasons.begin(), d.reasons.end());
  }
  for (const FindingStatus& f : ceiling.findings) {
    if (f.ceiling < level) out.push_back(f.reason);
  }
  return out;
}

std::string SuspensionMessage(Level held, const Ceiling& ceiling) {
  if (held <= ceiling.level) return "";
  std::string why;
  for (const Reason& r : HeldBelow(ceiling, held)) {
    why += why.empty() ? " because " : "; ";
    why += r.message;
  }
  return fmt::format("access at {} is suspended: the ceiling is {}{}", LevelName(held), LevelName(ceiling.level), why);
}

ProposalDecision EvaluateProposal(const Policy& policy, const Evidence& evidence, const ReleaseState& state,
                                  Level target, int64_t now) {
  ProposalDecision d;
  if (target <= state.public_level) {
    d.allowed = true;
    d.reasons.push_back({"lowering", target == state.public_level
                                         ? fmt::format("the public level is already {}", LevelName(target))
                                         : fmt::format("lowering {} -> {} is always allowed",
                                                       LevelName(state.public_level), LevelName(target))});
    return d;
  }
  const Ceiling ceiling = ComputeCeiling(policy, evidence);
  if (target > ceiling.level) {
    d.reasons.push_back(
        {"above_ceiling", fmt::format("{} is above the ceiling {}", LevelName(target), LevelName(ceiling.level))});
    // Only what holds the ceiling below the target explains the refusal.
    std::vector<Reason> why = HeldBelow(ceiling, target);
    d.reasons.insert(d.reasons.end(), why.begin(), why.end());
  }
  if (!policy.stages.empty()) {
    const Stage* next = NextStage(policy, state.public_level);
    const bool in_plan =
        std::any_of(policy.stages.begin(), policy.stages.end(), [&](const Stage& s) { return s.level == target; });
    if (!in_plan) {
      d.reasons.push_back({"not_in_plan", fmt::format("{} is not a stage of the release plan", LevelName(target))});
    } else if (next && next->level != target) {
      d.reasons.push_back(
          {"stage_order", fmt::format("the plan's next stage after {} is {}; {} comes after it",
                                      LevelName(state.public_level), LevelName(next->level), LevelName(target))});
    } else if (next) {
      std::vector<Reason> gates = ClosedGates(*next, evidence, state, now, nullptr);
      d.reasons.insert(d.reasons.end(), gates.begin(), gates.end());
    }
  }
  d.allowed = d.reasons.empty();
  if (d.allowed) {
    d.reasons.push_back({"ok", policy.stages.empty()
                                   ? fmt::format("{} is within the ceiling {} (the policy has no release plan)",
                                                 LevelName(target), LevelName(ceiling.level))
                                   : fmt::format("{} is within the ceiling {} and every gate of its stage is open",
                                                 LevelName(target), LevelName(ceiling.level))});
  }
  return d;
}

std::vector<StageStatus> PlanStatus(const Policy& policy, const Evidence& evidence, const ReleaseState& state,
                                    int64_t now) {
  std::vector<StageStatus> out;
  const Stage* next = NextStage(policy, state.public_level);
  const Level ceiling = ComputeCeiling(policy, evidence).level;
  for (size_t i = 0; i < policy.stages.size(); ++i) {
    const Stage& s = policy.stages[i];
    StageStatus st;
    st.level = s.level;
    st.automatic = s.automatic;
    st.reached = s.level <= state.public_level;
    if (!st.reached) {
      if (&s == next) {
        st.waiting_for = ClosedGates(s, evidence, state, now, &st.opens_at);
      } else {
        // Not the next stage, so not the first: the stage before it comes first.
        const std::string_view previous = LevelName(policy.stages[i - 1].level);
        st.waiting_for.push_back({"stage_order", fmt::format("comes after stage {}", previous)});
        if (s.min_seconds_at_previous > 0) {
          st.waiting_for.push_back(
              {"stage_time", fmt::format("then {} at {}", FormatWait(s.min_seconds_at_previous), previous)});
        }
      }
      if (s.level > ceiling) {
        st.waiting_for.push_back({"above_ceiling", fmt::format("the ceiling is {}", LevelName(ceiling))});
      }
      if (!s.automatic) st.waiting_for.push_back({"owner_approval", "an owner proposes it"});
      st.gates_open = &s == next && std::all_of(st.waiting_for.begin(), st.waiting_for.end(),
                                                [](const Reason& r) { return r.code == "owner_approval"; });
    }
    out.push_back(std::move(st));
  }
  return out;
}

std::optional<Level> AutoAdvance(const Policy& policy, const Evidence& evidence, const ReleaseState& state,
                                 int64_t now) {
  const Stage* next = NextStage(policy, state.public_level);
  if (!next || !next->automatic) return std::nullopt;
  if (!ClosedGates(*next, evidence, state, now, nullptr).empty()) return std::nullopt;
  if (next->level > ComputeCeiling(policy, evidence).level) return std::nullopt;
  return next->level;
}

}  // namespace aperture::policy
