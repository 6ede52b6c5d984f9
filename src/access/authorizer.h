// Authorizer: decides whether a caller may use a capability on a model, from
// the model's public level, the caller's grants and the level config. Pure
// decisions over Store reads; it never answers HTTP and never records.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "access/caller.h"
#include "aperture/level.h"
#include "aperture/records.h"
#include "aperture/store.h"
#include "config/config.h"
#include "core/clock.h"

namespace aperture {

enum class Outcome { kAllow, kDeny };

struct Decision {
  Outcome outcome = Outcome::kDeny;
  int status = 403;              // the HTTP status a denial maps to (200 for allow)
  std::string reason;            // machine-readable: "ok", "model_not_found", "level_too_low", ...
  std::string message;           // for the caller
  Level level = Level::kClosed;  // the caller's effective level on the model
  std::optional<Model> model;

  bool allowed() const { return outcome == Outcome::kAllow; }
};

// The level a caller holds on a model:
//   min(ceiling, max(public level, grant level)), where a public level of
//   `staged` or below gives outsiders nothing (staged means named principals
//   only), and owners hold the ceiling.
Level EffectiveLevel(const Caller& caller, const Model& model, const std::optional<Grant>& grant, Level ceiling);

// Whether the caller may know the model exists: owners and reviewers always;
// others when their effective level is above `closed`.
bool ModelVisible(const Caller& caller, Level effective);

// Thread-safe (reads through a thread-safe Store).
class Authorizer {
 public:
  Authorizer(Store& store, const Config& config, const Clock& clock) : store_(store), config_(config), clock_(clock) {}

  // Allow, or deny with 404 (model unknown or invisible to the caller) or
  // 403 (visible, but the level lacks the capability; says which level would do).
  absl::StatusOr<Decision> Authorize(const Caller& caller, const std::string& model_id, Capability capability) const;

  // The caller's effective level on `model`.
  absl::StatusOr<Level> LevelOn(const Caller& caller, const Model& model) const;

 private:
  Store& store_;
  const Config& config_;
  const Clock& clock_;
};

}  // namespace aperture
