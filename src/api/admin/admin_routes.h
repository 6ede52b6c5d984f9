// The owner and reviewer API under /v1/admin: principals, keys, models,
// grants and access requests. Every change goes through AccessService.
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddAdminRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
