// ReleaseService: applies the release policy to the models in the store.
// It keeps each model's ceiling current from its evidence (suspending the
// public level and grants above it, and restoring them when it rises),
// decides owners' proposals for a new public level, and advances automatic
// stages when their gates open. Every decision goes to the transparency log
// and to the model's release history. The decisions themselves are
// src/policy's pure functions; this class gathers their inputs and keeps
// their outputs.
//
// Thread-safe: the policy is a shared_ptr<const Policy> snapshot swapped
// under a mutex, and changes to one model's release are serialised.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "access/caller.h"
#include "aperture/recorder.h"
#include "aperture/store.h"
#include "core/clock.h"
#include "core/json.h"
#include "policy/policy.h"

namespace aperture {

class ReleaseService {
 public:
  ReleaseService(Store& store, Recorder& recorder, const Clock& clock, std::shared_ptr<const policy::Policy> policy);

  std::shared_ptr<const policy::Policy> policy() const;
  // Puts `policy` in force and recomputes every model's ceiling.
  absl::Status SetPolicy(std::shared_ptr<const policy::Policy> policy);

  // What the policy decides from: the latest finished evaluation of each
  // suite on the model (scored by the policy's metric for that suite).
  absl::StatusOr<policy::Evidence> EvidenceFor(const std::string& model_id) const;

  // Recomputes a model's ceiling; when it moved, stores it (a "ceiling"
  // release event) and records what it suspends or restores.
  absl::StatusOr<policy::Ceiling> Refresh(const std::string& model_id);
  absl::Status RefreshAll();

  // An owner asks for a new public level. Refused proposals change nothing
  // but the history and the log; the answer lists every reason.
  struct Proposal {
    bool allowed = false;
    Level from = Level::kClosed;
    Level to = Level::kClosed;
    std::vector<policy::Reason> reasons;
  };
  absl::StatusOr<Proposal> Propose(const Caller& actor, const std::string& model_id, Level target);
  // The same decision as Propose, without applying it (a dry run): the
  // answer is what Propose would answer now. Nothing changes (not the
  // level, the ceiling or the history); the check is recorded in the log
  // (release.checked) as the decision it is.
  absl::StatusOr<Proposal> Check(const Caller& actor, const std::string& model_id, Level target);

  // Moves every model whose next stage is automatic and open; returns how
  // many moved. The server calls this periodically; tests call it after
  // moving a fake clock.
  absl::StatusOr<int> AdvanceDue();

  // Everything about a model's release, for people.
  struct View {
    Model model;
    policy::Ceiling ceiling;
    std::vector<policy::StageStatus> plan;
    std::vector<ReleaseEvent> history;
    // The model's finished evaluation runs, newest first (at most
    // kEvaluationHistory): their results are in the public log too.
    std::vector<EvalRun> evaluation_runs;
    std::vector<Grant> suspended_grants;           // active grants above the ceiling
    policy::Evidence evidence;                     // what the ceiling was computed from
    std::shared_ptr<const policy::Policy> policy;  // the policy it was computed under
  };
  absl::StatusOr<View> Show(const std::string& model_id);
  static constexpr size_t kEvaluationHistory = 50;

 private:
  absl::StatusOr<Model> FindModel(const std::string& model_id) const;
  // The policy's answer to moving `model` to `target` on its current evidence.
  absl::StatusOr<Proposal> Decide(const policy::Policy& policy, const Model& model, Level target) const;
  absl::StatusOr<policy::Ceiling> RefreshLocked(const Model& model, const policy::Policy& policy)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(change_mu_);
  absl::Status ChangeLevel(const Model& model, Level to, const std::string& kind, const std::string& actor,
                           const std::vector<policy::Reason>& reasons) ABSL_EXCLUSIVE_LOCKS_REQUIRED(change_mu_);
  // Records the suspension or restoration of everything held between the
  // old and the new ceiling.
  absl::Status RecordSuspensions(const Model& model, Level old_ceiling, Level new_ceiling, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(change_mu_);
  absl::Status Log(const std::string& type, const std::string& actor, const Model& model, Level level,
                   const std::string& outcome, const std::string& reason, Json details);

  Store& store_;
  Recorder& recorder_;
  const Clock& clock_;

  mutable absl::Mutex policy_mu_;
  std::shared_ptr<const policy::Policy> policy_ ABSL_GUARDED_BY(policy_mu_);
  // Held while a model's level or ceiling changes, so a proposal, an advance
  // and a refresh never interleave their reads and writes.
  absl::Mutex change_mu_;
};

// The reasons' messages joined with "; ", for one line of text.
std::string ReasonsText(const std::vector<policy::Reason>& reasons);
// The reasons as JSON, [{"code","message"}...], for answers and records.
Json ReasonsJson(const std::vector<policy::Reason>& reasons);

}  // namespace aperture
