#include "access/authorizer.h"

#include <algorithm>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {
namespace {

// Until the release policy computes ceilings, nothing caps the levels.
constexpr Level kNoCeiling = Level::kOpen;

}  // namespace

Level EffectiveLevel(const Caller& caller, const Model& model, const std::optional<Grant>& grant, Level ceiling) {
  if (caller.IsAtLeast(Role::kOwner)) return ceiling;
  Level base = model.public_level >= Level::kHosted ? model.public_level : Level::kClosed;
  if (grant) base = std::max(base, grant->level);
  return std::min(ceiling, base);
}

bool ModelVisible(const Caller& caller, Level effective) {
  return caller.IsAtLeast(Role::kReviewer) || effective > Level::kClosed;
}

absl::StatusOr<Level> Authorizer::LevelOn(const Caller& caller, const Model& model) const {
  std::optional<Grant> grant;
  if (caller.principal && !caller.IsAtLeast(Role::kOwner)) {
    ASSIGN_OR_RETURN(grant, store_.FindActiveGrant(caller.principal->id, model.id, clock_.NowSeconds()));
  }
  return EffectiveLevel(caller, model, grant, kNoCeiling);
}

absl::StatusOr<Decision> Authorizer::Authorize(const Caller& caller, const std::string& model_id,
                                               Capability capability) const {
  Decision d;
  ASSIGN_OR_RETURN(std::optional<Model> model, store_.FindModel(model_id));
  Level level = Level::kClosed;
  if (model) {
    ASSIGN_OR_RETURN(level, LevelOn(caller, *model));
  }
  if (!model || !ModelVisible(caller, level)) {
    // Invisible and missing models answer alike, so outsiders learn nothing.
    d.status = 404;
    d.reason = "model_not_found";
    d.message = fmt::format("The model '{}' does not exist or you do not have access to it.", model_id);
    return d;
  }
  d.level = level;
  d.model = std::move(model);
  const bool owner = caller.IsAtLeast(Role::kOwner);
  if (!owner && !config_.Limits(level).Allows(capability)) {
    std::optional<Level> needed = config_.LowestLevelWith(capability);
    d.status = 403;
    d.reason = "level_too_low";
    if (needed) {
      d.message = fmt::format(
          "Your access to '{}' is at level '{}', which does not include '{}'; that needs level '{}' "
          "or higher. {}",
          model_id, LevelName(level), CapabilityName(capability), LevelName(*needed),
          caller.anonymous() ? "Create an account with the model's owner and request access with an API key."
                             : fmt::format("Request it with POST /v1/access-requests "
                                           "{{\"model\": \"{}\", \"level\": \"{}\", \"justification\": \"...\"}}.",
                                           model_id, LevelName(*needed)));
    } else {
      d.message = fmt::format("No release level of this server includes '{}'.", CapabilityName(capability));
    }
    return d;
  }
  d.outcome = Outcome::kAllow;
  d.status = 200;
  d.reason = "ok";
  return d;
}

}  // namespace aperture
