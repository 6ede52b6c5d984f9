// Operational endpoints: GET /healthz and GET /metrics (Prometheus text).
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddOpsRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
