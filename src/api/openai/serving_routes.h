// The OpenAI serving endpoints — POST /v1/chat/completions,
// POST /v1/completions, POST /v1/embeddings — and GET /v1/usage. Each
// request is checked against the caller's level parameter by parameter,
// runs on the scheduler, is counted per principal, model and day, and is
// recorded (token counts and hashes, never the text).
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddServingRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
