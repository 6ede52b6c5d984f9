// Authorizer: decides whether a caller may use a capability on a model, from
// the model's public level, the caller's grants, the model's ceiling (kept in
// the store by the release policy) and the level config. Pure decisions over
// Store reads; it never answers HTTP and never records.
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
  std::optional<Grant> grant;  // the caller's active grant on the model, if any (its research scope narrows)

  bool allowed() const { return outcome == Outcome::kAllow; }
};

// The level a caller holds on a model before the ceiling: max(public level,
// grant level), where a public level of `staged` or below gives outsiders
// nothing (staged means named principals only); owners hold `open`.
Level HeldLevel(const Caller& caller, const Model& model, const std::optional<Grant>& grant);

// The level a caller may use now: min(ceiling, held level). What lies above
// the ceiling is suspended, not lost: it returns when the ceiling rises.
Level EffectiveLevel(const Caller& caller, const Model& model, const std::optional<Grant>& grant, Level ceiling);

// Whether the caller may know the model exists: owners and reviewers always;
// others when they hold a level above `closed` (even a suspended one, so they
// learn why it is suspended rather than that nothing is there).
bool ModelVisible(const Caller& caller, Level held);

// Thread-safe (reads through a thread-safe Store).
class Authorizer {
 public:
  Authorizer(Store& store, const Config& config, const Clock& clock) : store_(store), config_(config), clock_(clock) {}

  // Allow, or deny with 404 (model unknown or invisible to the caller) or
  // 403 (visible, but the level lacks the capability; says which level would
  // do, or that the caller's level is suspended by the ceiling and why).
  absl::StatusOr<Decision> Authorize(const Caller& caller, const std::string& model_id, Capability capability) const;

  // The caller's levels on `model`: held, and effective (under the ceiling).
  struct Levels {
    Level held = Level::kClosed;
    Level effective = Level::kClosed;
    std::optional<Grant> grant;
  };
  absl::StatusOr<Levels> LevelsOn(const Caller& caller, const Model& model) const;
  absl::StatusOr<Level> LevelOn(const Caller& caller, const Model& model) const;

 private:
  Store& store_;
  const Config& config_;
  const Clock& clock_;
};

}  // namespace aperture
