// Model discovery (GET /v1/models, /v1/models/{id}) and the capability
// endpoints this server does not offer yet (research access, fine-tuning).
// Inference is in serving_routes.h, downloads in api/files.
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddModelRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
