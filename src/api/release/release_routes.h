// The release policy over HTTP: a model's release (ceiling, plan, history)
// and owners' proposals; evaluation runs; reloading the policy file.
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddReleaseRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
