// The transparency log over HTTP, public and read-only (it holds no secrets
// and no content): GET /log/checkpoint, /log/key, /log/proof/inclusion,
// /log/proof/consistency, /log/entries, the C2SP tlog-tiles layout under
// /log/tile/, and /log/mine (a principal's own entries with inclusion proofs).
#pragma once

#include <string>

#include "filters/route.h"
#include "translog/log_reader.h"

namespace aperture {

// At most this many entries per /log/entries or /log/mine answer.
inline constexpr int64_t kMaxLogPage = 1000;

// `public_key`: the 32-byte Ed25519 key that signs checkpoints.
void AddLogRoutes(Router& router, translog::LogReader& log, std::string public_key);

}  // namespace aperture
