// OpennessService: a model's openness card computed from what this server
// actually serves, not from what its owner says about it. Components the
// server serves or runs are "verified": the final parameters (when the
// weights file is served at a level that downloads), the model card, the
// evaluation results it computed (published in the transparency report),
// and Aperture's own code: the architecture's implementation and the
// inference code (when its engine runs the model) and the evaluation code
// (when it evaluated the model), all under Aperture's licence (MIT, the
// repository's LICENSE). Everything else can only be "declared" by an owner
// as a link, and the card says so. The card then applies the Model Openness
// Framework (mof.h) and OSI's Open Source AI Definition checklist (osaid.h).
//
// Who can reach a component follows the model's public level (capped by its
// ceiling): the weights are available to everyone only at a public level
// whose callers may download; the card and evaluation results wherever
// the public may see the model (hosted and above).
//
// Usage:
//   ASSIGN_OR_RETURN(OpennessCard card, service.Card(model));
//   Json j = OpennessCardJson(card);
//
// Thread-safety: thread-safe (its parts are).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "access/caller.h"
#include "aperture/recorder.h"
#include "aperture/store.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json.h"
#include "distribution/distribution_service.h"
#include "openness/mof.h"
#include "openness/osaid.h"

namespace aperture::openness {

// The licence of Aperture's own code (the repository's LICENSE file).
inline constexpr char kServerLicence[] = "MIT";

struct OpennessCard {
  std::string model_id;
  Level public_level = Level::kClosed;  // as capped by the ceiling
  MofResult mof;
  OsaidResult osaid;
  int64_t computed_at = 0;
};

Json OpennessCardJson(const OpennessCard& card);

class OpennessService {
 public:
  OpennessService(Store& store, Recorder& recorder, const Clock& clock, const Config& config,
                  distribution::DistributionService& distribution)
      : store_(store), recorder_(recorder), clock_(clock), config_(config), distribution_(distribution) {}

  absl::StatusOr<OpennessCard> Card(const Model& model);

  // Owners: declare a component at a link (replacing an earlier declaration
  // of it), or withdraw a declaration. Each is a durable log entry.
  absl::StatusOr<OpennessDeclaration> Declare(const Caller& actor, const std::string& model_id,
                                              const std::string& component, const Json& body);
  absl::Status Withdraw(const Caller& actor, const std::string& model_id, const std::string& component);

 private:
  absl::Status Record(const Caller& actor, std::string type, const std::string& model, const Json& details);

  Store& store_;
  Recorder& recorder_;
  const Clock& clock_;
  const Config& config_;
  distribution::DistributionService& distribution_;
};

}  // namespace aperture::openness
