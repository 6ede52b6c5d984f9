// Research requests from their JSON bodies (see docs/research.md for the
// fields). Every field is type- and bounds-checked against spec.h's limits
// and unknown fields are refused, so a typo never passes silently; errors
// are InvalidArgument naming the field (as the status's param payload).
// What depends on the model (site names, vector lengths, token ids, heads)
// is checked later, by plan.h.
//
// Usage:
//   ASSIGN_OR_RETURN(RunSpec spec, ParseRunSpec(body));
//
// Thread-safety: pure functions.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "core/json.h"
#include "research/spec.h"

namespace aperture::research {

absl::StatusOr<RunSpec> ParseRunSpec(const Json& body);
absl::StatusOr<PatchSpec> ParsePatchSpec(const Json& body);
absl::StatusOr<DirectionsSpec> ParseDirectionsSpec(const Json& body);

// The `interventions` of a chat completion: add, set, scale, zero and mean
// with a given mean (nothing that names another input). `field` prefixes
// error names.
absl::StatusOr<std::vector<Intervention>> ParseInterventions(const Json& list, std::string_view field,
                                                             bool allow_inputs);

}  // namespace aperture::research
