#include "access/licence_gate.h"

#include <algorithm>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {
namespace {

LicenceVerdict Refuse(int status, std::string code, std::string message) {
  return LicenceVerdict{false, status, std::move(code), std::move(message)};
}

}  // namespace

absl::StatusOr<LicenceVerdict> LicenceGate::Check(const Caller& caller, const Model& model, Level level,
                                                  const std::vector<Capability>& capabilities) const {
  // Owners set the licence; it binds the others.
  if (level == Level::kOpen || capabilities.empty() || caller.IsAtLeast(Role::kOwner)) return LicenceVerdict{};
  const bool downloads =
      std::find(capabilities.begin(), capabilities.end(), Capability::kDownload) != capabilities.end();
  if (model.licence_sha256.empty()) {
    if (!downloads) return LicenceVerdict{};
    return Refuse(409, "licence_missing",
                  fmt::format("model '{}' has no licence yet, so it cannot be downloaded at level {}; its owner sets "
                              "one (PUT /v1/models/{}/licence or `aperture licence set`)",
                              model.id, LevelName(level), model.id));
  }
  if (!((model.licence_levels >> static_cast<int>(level)) & 1u)) return LicenceVerdict{};
  const std::string how = fmt::format(
      "read it at GET /v1/models/{0}/licence and accept it with POST /v1/models/{0}/licence/accept "
      "{{\"sha256\":\"{1}\"}}",
      model.id, model.licence_sha256);
  if (caller.anonymous()) {
    return Refuse(401, "licence_key_required",
                  fmt::format("model '{}' may be used at level {} only after accepting its licence, and accepting "
                              "needs an API key (the acceptance is recorded under your principal); {}",
                              model.id, LevelName(level), how));
  }
  ASSIGN_OR_RETURN(bool accepted, store_.HasAcceptedLicence(caller.principal->id, model.id, model.licence_sha256));
  if (accepted) return LicenceVerdict{};
  return Refuse(
      403, "licence_not_accepted",
      fmt::format("accept the licence of '{}' before using it at level {}: {}", model.id, LevelName(level), how));
}

}  // namespace aperture
