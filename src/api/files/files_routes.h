// A model's files: the listing for the caller's level (GET
// /v1/models/{model}/files), each file (GET or HEAD
// /v1/models/{model}/files/{name}, and the weights at
// /v1/models/{model}/download) with single byte ranges, a strong ETag equal
// to the file's SHA-256 and If-Range, the signed manifest (GET
// /v1/models/{model}/manifest) and the key that signs it (GET
// /v1/signing-key). The weights, tokenizer and chat template need the
// `download` capability and, below `open`, an accepted licence (the licence
// filter); the card, licence text and manifest are public wherever the
// model is visible. Each download of the model's data is a `download` log
// entry with the file, the range and the bytes sent. See docs/downloads.md.
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddFilesRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
