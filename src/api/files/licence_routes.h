// A model's licence and model card: owners set them (PUT
// /v1/models/{model}/licence, PUT /v1/models/{model}/card), anyone who can
// see the model reads the licence (GET /v1/models/{model}/licence), and
// principals accept it (POST /v1/models/{model}/licence/accept {"sha256"}).
// See docs/downloads.md.
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddLicenceRoutes(Router& router, ApiDeps& deps);

// {"object":"licence", "model", "spdx_id", "name", "sha256", "accept_levels", "set_at"[, "text"]}.
Json LicenceJson(const Licence& licence, bool with_text);

}  // namespace aperture
