// CopyPrefix: copies the first positions of one sequence's KV cache into
// another, so n completions of one prompt share a single prefill.
// Not thread-safe: neither sequence may be in a forward pass meanwhile.
#pragma once

#include "absl/status/status.h"
#include "engine/model/llama_config.h"
#include "engine/model/sequence.h"

namespace aperture::scheduler {

// Makes `to` hold exactly positions [0, n) of `from`. Both sequences must
// belong to a model with `config`; n <= from.position() and n <= to.capacity().
absl::Status CopyPrefix(const engine::LlamaConfig& config, const engine::Sequence& from, int n, engine::Sequence* to);

}  // namespace aperture::scheduler
