// JSON for release views and evaluation runs, shared by the HTTP API and
// the CLI so both say the same thing.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "aperture/records.h"
#include "core/json.h"
#include "release/release_service.h"

namespace aperture {

Json ReleaseViewJson(const ReleaseService::View& view);
Json ProposalJson(const ReleaseService::Proposal& proposal);
Json EvalRunJson(const EvalRun& run);

// An evaluation run as EvalRunJson shows it, read back by a client (`eval
// run --url` follows a run on a server): the JSON comes from another
// process, so every field used is checked, and a missing or mistyped one
// is a DataLoss error naming it, never an exception.
struct EvalRunReport {
  std::string id;
  std::string suite;
  std::string model;
  std::string state;
  int64_t done = 0;
  int64_t total = 0;
  std::vector<std::pair<std::string, double>> metrics;
  std::vector<std::pair<std::string, std::string>> tiers;  // domain -> tier
  std::string error;                                       // empty: none
};
absl::StatusOr<EvalRunReport> ReadEvalRunJson(const Json& run);

}  // namespace aperture
