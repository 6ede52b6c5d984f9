// The OSI's Open Source AI Definition 1.0, checked the way OSI's checklist
// does it: over the Model Openness Framework's components (mof.h).
//
//   Data information: at least one of datasets, research paper, technical
//                     report or data card, under an open licence
//   Code:             data preprocessing, training, inference, supporting
//                     libraries and tools, and model architecture code, all
//                     under OSI-approved licences
//   Parameters:       the final model parameters, under open terms
//                     (an OSI-approved or open data licence)
//
// Usage:
//   OsaidResult r = CheckOsaid(EvaluateMof(states));
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <vector>

#include "openness/mof.h"

namespace aperture::openness {

struct OsaidRequirement {
  std::string name;  // "Data information", "Code: Training code", ...
  bool met = false;
  std::vector<std::string> components;  // MOF component ids that can meet it
  std::string why_not;
};

struct OsaidResult {
  bool meets = false;
  std::vector<OsaidRequirement> requirements;
};

OsaidResult CheckOsaid(const MofResult& mof);

}  // namespace aperture::openness
