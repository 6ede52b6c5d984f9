// JSON for release views and evaluation runs, shared by the HTTP API and
// the CLI so both say the same thing.
#pragma once

#include "aperture/records.h"
#include "core/json.h"
#include "release/release_service.h"

namespace aperture {

Json ReleaseViewJson(const ReleaseService::View& view);
Json ProposalJson(const ReleaseService::Proposal& proposal);
Json EvalRunJson(const EvalRun& run);

}  // namespace aperture
