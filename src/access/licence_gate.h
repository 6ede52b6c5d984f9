// LicenceGate: whether a caller the authorizer allowed must first accept the
// model's licence. An owner sets which levels the licence binds (by default
// `download`); a caller whose effective level is one of them is refused
// until they have accepted the licence's current text (by SHA-256, so a
// changed licence asks again). At `open` there is no gate, and owners (who
// set the licence) are never gated. Downloading at a
// level below `open` needs a licence to exist at all: a model without one
// cannot be downloaded until its owner sets one.
//
// Refusals: 401 licence_key_required (anonymous callers cannot accept: the
// acceptance is recorded under a principal), 403 licence_not_accepted (says
// how to read and accept it), 409 licence_missing (a download of a model
// whose owner has set no licence).
//
// Usage:
//   ASSIGN_OR_RETURN(LicenceVerdict v, gate.Check(caller, model, decision.level, capabilities));
//   if (!v.allowed) answer v.status with v.code and v.message.
//
// Thread-safety: thread-safe (reads through a thread-safe Store).
#pragma once

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "access/caller.h"
#include "aperture/level.h"
#include "aperture/records.h"
#include "aperture/store.h"

namespace aperture {

struct LicenceVerdict {
  bool allowed = true;
  int status = 200;
  std::string code;  // "licence_key_required", "licence_not_accepted", "licence_missing"
  std::string message;
};

class LicenceGate {
 public:
  explicit LicenceGate(Store& store) : store_(store) {}

  absl::StatusOr<LicenceVerdict> Check(const Caller& caller, const Model& model, Level level,
                                       const std::vector<Capability>& capabilities) const;

 private:
  Store& store_;
};

}  // namespace aperture
