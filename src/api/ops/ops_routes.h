// Operational endpoints: GET /healthz (liveness: the process answers),
// GET /readyz (readiness: store reachable, log sequencing known, models
// loaded; 503 until then, for a load balancer or an orchestrator) and
// GET /metrics (Prometheus text).
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddOpsRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
