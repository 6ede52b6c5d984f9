// Model discovery and the model-scoped capability endpoints: OpenAI-style
// inference, research access, evaluations, fine-tuning and downloads.
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddModelRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
