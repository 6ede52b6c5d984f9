// The release policy: how open a model may be, decided from evidence.
//
// A policy file (TOML, docs/policy.md) declares risk domains, each measured
// by evaluation suites with score thresholds for the risk tiers; the highest
// release level (ceiling) each tier permits; an ordered plan of release
// stages with their gates; and rollback rules for confirmed findings. The
// functions below are the decisions, pure over value types and a `now`: they
// read no store and no clock, so each rule is tested directly
// (src/release applies them).
//
// Thread-safety: values; a Policy is shared as shared_ptr<const Policy>.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aperture/level.h"

namespace aperture::policy {

enum class RiskTier { kLow = 0, kMedium, kHigh, kCritical };
enum class Severity { kLow = 0, kMedium, kHigh, kCritical };
std::string_view RiskTierName(RiskTier tier);
std::optional<RiskTier> ParseRiskTier(std::string_view name);
std::string_view SeverityName(Severity severity);
std::optional<Severity> ParseSeverity(std::string_view name);

// One suite of a domain: a score at or above a threshold puts the domain at
// least at that tier.
struct SuiteRule {
  std::string name;                           // the suite's name, as its metadata gives it
  std::string file;                           // resolved path of its JSONL file
  std::string metric = "acc";                 // which metric of a run is the score
  double medium = 0, high = 0, critical = 0;  // non-decreasing
};

struct Domain {
  std::string name;
  std::vector<SuiteRule> suites;
};

struct Stage {
  Level level = Level::kStaged;
  int64_t min_seconds_at_previous = 0;
  struct FreshEval {
    std::string suite;
    int64_t max_age_seconds = 0;
  };
  std::vector<FreshEval> fresh_evals;
  std::optional<Severity> blocking_severity;  // no open finding at or above it
  bool automatic = false;                     // else an owner proposes it
};

struct RollbackRule {
  Severity severity = Severity::kCritical;  // a confirmed finding at or above it...
  Level ceiling = Level::kClosed;           // ...holds the ceiling here until resolved
};

struct Policy {
  std::string source;  // the file it came from
  std::string sha256;  // hex, of the file's bytes
  std::vector<Domain> domains;
  std::array<Level, 4> tier_ceiling = {Level::kOpen, Level::kDownload, Level::kResearch, Level::kClosed};
  Level unknown_ceiling = Level::kStaged;  // a domain with a suite not yet evaluated
  std::vector<Stage> stages;               // strictly rising levels, above closed
  std::vector<RollbackRule> rollback;

  const SuiteRule* FindSuite(std::string_view name) const;
};

// Parses and validates a policy file; suite files resolve against `base_dir`
// and must exist. Errors name the file, line and key.
absl::StatusOr<Policy> ParsePolicy(std::string_view text, std::string_view source, const std::string& base_dir);
absl::StatusOr<Policy> LoadPolicy(const std::string& path);
// No domains, no stages, no rollback rules: every ceiling open, any
// proposal allowed. In force until an owner puts a policy file in force.
Policy DefaultPolicy();

// ---- evidence (from the store)

struct EvalScore {
  std::string suite;
  std::string run_id;
  double score = 0;  // the suite rule's metric
  int64_t time = 0;  // when the run finished
};
struct OpenFinding {
  std::string id;
  Severity severity = Severity::kLow;
  bool confirmed = false;
  std::string title;
};
struct Evidence {
  std::vector<EvalScore> evals;  // the latest finished run of each suite (the first listed counts)
  std::vector<OpenFinding> findings;
};

// ---- decisions

// One reason, machine-readable `code` and a message for people:
//   ceiling:   "domain_tier", "domain_unknown", "finding";
//   proposals: "above_ceiling" (followed by the ceiling reasons that hold it
//              below the target), "not_in_plan", "stage_order", "stage_time",
//              "stage_eval_missing", "stage_eval_stale", "stage_finding";
//              when allowed: "lowering" or "ok";
//   plan:      the stage codes, "above_ceiling" and "owner_approval".
struct Reason {
  std::string code;
  std::string message;
};

struct DomainStatus {
  std::string domain;
  std::optional<RiskTier> tier;  // nullopt: unknown (a suite has no evaluation yet)
  Level ceiling = Level::kOpen;
  std::vector<Reason> reasons;
};

// A confirmed open finding that a rollback rule holds the ceiling for (the
// lowest ceiling of the rules it matches).
struct FindingStatus {
  std::string id;
  Severity severity = Severity::kLow;
  Level ceiling = Level::kClosed;
  Reason reason;
};

struct Ceiling {
  Level level = Level::kOpen;
  std::vector<DomainStatus> domains;    // one per policy domain, in policy order
  std::vector<FindingStatus> findings;  // confirmed findings under a rollback rule
  std::vector<Reason> reasons;          // every reason holding it below open
};

// The tier a score on `rule`'s suite puts its domain at (kLow below medium;
// a NaN score fails closed at kCritical, and ComputeCeiling counts a suite
// whose latest score is NaN as not evaluated).
RiskTier TierFor(const SuiteRule& rule, double score);
// The most restrictive of every domain's ceiling (its tier's, or
// unknown_ceiling while a suite has no evaluation) and of the rollback rules
// of confirmed open findings.
Ceiling ComputeCeiling(const Policy& policy, const Evidence& evidence);
// The reasons (of domains and findings) that by themselves keep the ceiling
// below `level`; empty when the ceiling is at or above it.
std::vector<Reason> HeldBelow(const Ceiling& ceiling, Level level);
// Why something held at `held` (a public level or a grant) is suspended, for
// callers: "access at research is suspended: the ceiling is api because bio:
// suite wmdp-bio acc 0.610 >= high threshold 0.500: tier high (ceiling api)".
// Empty when `held` is within the ceiling (nothing is suspended).
std::string SuspensionMessage(Level held, const Ceiling& ceiling);

struct ReleaseState {
  Level public_level = Level::kClosed;
  int64_t since = 0;  // when public_level was reached
};

struct ProposalDecision {
  bool allowed = false;
  std::vector<Reason> reasons;  // all of them: why refused, or what was checked
};
// Lowering (or keeping) the public level is always allowed. Raising needs the
// target within the ceiling, to be the plan's next stage (any level when the
// plan is empty), and every gate of that stage open at `now`.
ProposalDecision EvaluateProposal(const Policy& policy, const Evidence& evidence, const ReleaseState& state,
                                  Level target, int64_t now);

struct StageStatus {
  Level level = Level::kStaged;
  bool reached = false;
  bool gates_open = false;  // the next stage only: nothing but an owner's approval (if any) missing
  bool automatic = false;
  int64_t opens_at = 0;             // the next stage's time gate; 0 if none
  std::vector<Reason> waiting_for;  // empty once reached
};
std::vector<StageStatus> PlanStatus(const Policy& policy, const Evidence& evidence, const ReleaseState& state,
                                    int64_t now);

// The level an automatic stage moves to now: the next stage when it is
// automatic, its gates are open and the ceiling allows it.
std::optional<Level> AutoAdvance(const Policy& policy, const Evidence& evidence, const ReleaseState& state,
                                 int64_t now);

// How long until something, for people, with at most two units and rounded
// up so that waiting that long is always enough: "2d 3h", "3h 5m", "4m 10s",
// "45s" (0 and negatives: "0s").
std::string FormatWait(int64_t seconds);

}  // namespace aperture::policy
