// What the transparency report says about a model's findings: counts by
// state and by severity, and the disclosed ones in full. This build records
// no findings of its own; the report says so (tracked = false) rather than
// inventing numbers, and a findings store plugs in through FindingsSource.
//
// Usage:
//   FindingsSource source = NoFindingsTracked;   // or the findings store's summary
//   ASSIGN_OR_RETURN(FindingsSummary s, source("tiny"));
//
// Thread-safety: a FindingsSource must be thread-safe.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/json.h"

namespace aperture::report {

struct FindingsSummary {
  bool tracked = false;  // whether this server records findings at all
  std::map<std::string, int64_t> by_state;
  std::map<std::string, int64_t> by_severity;
  std::vector<Json> disclosed;  // each disclosed finding, as the findings store describes it
};

using FindingsSource = std::function<absl::StatusOr<FindingsSummary>(const std::string& model_id)>;

// The source for a server without a findings store.
absl::StatusOr<FindingsSummary> NoFindingsTracked(const std::string& model_id);

Json FindingsJson(const FindingsSummary& summary);

}  // namespace aperture::report
