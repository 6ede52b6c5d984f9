// What the model page shows beyond the OpenAI model object:
//   GET  /v1/models/{model}/card       the owner's card (Markdown) and the
//                                      architecture and size read from the GGUF
//   POST /v1/admin/models/{id}/card    an owner sets the card: {"card": "..."}
//   GET  /v1/levels                    what each release level allows (the
//                                      server's config), so pages and clients
//                                      can say what a higher level adds
// The card of a model is as visible as the model (closed and staged models
// look missing to outsiders).
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddModelInfoRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
