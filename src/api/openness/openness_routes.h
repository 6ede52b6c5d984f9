// A model's openness card and transparency report, public wherever the
// model is visible: GET /v1/models/{model}/openness (JSON) and
// /openness.svg (a badge); owners declare components at links with PUT
// /v1/models/{model}/openness/{component} and withdraw them with DELETE.
// GET /v1/models/{model}/report is the signed JSON report (HTML when the
// caller asks for text/html, or at /report.html). See docs/openness.md.
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddOpennessRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
