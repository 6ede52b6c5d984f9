#include "access/authorizer.h"

#include <algorithm>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {

Level HeldLevel(const Caller& caller, const Model& model, const std::optional<Grant>& grant) {
  if (caller.IsAtLeast(Role::kOwner)) return Level::kOpen;
  Level held = model.public_level >= Level::kHosted ? model.public_level : Level::kClosed;
  if (grant) held = std::max(held, grant->level);
  return held;
}

Level EffectiveLevel(const Caller& caller, const Model& model, const std::optional<Grant>& grant, Level ceiling) {
  return std::min(ceiling, HeldLevel(caller, model, grant));
}

bool ModelVisible(const Caller& caller, Level held) {
  return caller.IsAtLeast(Role::kReviewer) || held > Level::kClosed;
}

absl::StatusOr<Authorizer::Levels> Authorizer::LevelsOn(const Caller& caller, const Model& model) const {
  std::optional<Grant> grant;
  if (caller.principal && !caller.IsAtLeast(Role::kOwner)) {
    ASSIGN_OR_RETURN(grant, store_.FindActiveGrant(caller.principal->id, model.id, clock_.NowSeconds()));
  }
  Level held = HeldLevel(caller, model, grant);
  return Levels{held, std::min(model.ceiling, held), std::move(grant)};
}

absl::StatusOr<Level> Authorizer::LevelOn(const Caller& caller, const Model& model) const {
  ASSIGN_OR_RETURN(Levels levels, LevelsOn(caller, model));
  return levels.effective;
}

absl::StatusOr<Decision> Authorizer::Authorize(const Caller& caller, const std::string& model_id,
                                               Capability capability) const {
  Decision d;
  ASSIGN_OR_RETURN(std::optional<Model> model, store_.FindModel(model_id));
  Levels levels;
  if (model) {
    ASSIGN_OR_RETURN(levels, LevelsOn(caller, *model));
  }
  const Level level = levels.effective;
  if (!model || !ModelVisible(caller, levels.held)) {
    // Invisible and missing models answer alike, so outsiders learn nothing.
    d.status = 404;
    d.reason = "model_not_found";
    d.message = fmt::format("The model '{}' does not exist or you do not have access to it.", model_id);
    return d;
  }
  d.level = level;
  d.model = std::move(model);
  d.grant = levels.grant;
  const bool owner = caller.IsAtLeast(Role::kOwner);
  if (!owner && !config_.Limits(level).Allows(capability) && config_.Limits(levels.held).Allows(capability)) {
    d.status = 403;
    d.reason = "level_suspended";
    d.message = fmt::format(
        "Your access to '{}' at level '{}' is suspended: the release policy's ceiling for this model is now '{}'{}. "
        "It is restored, unchanged, when the evidence allows; GET /v1/models/{}/release shows why.",
        model_id, LevelName(levels.held), LevelName(d.model->ceiling),
        d.model->ceiling_reason.empty() ? "" : fmt::format(" ({})", d.model->ceiling_reason), model_id);
    return d;
  }
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
