#include "engine/model/sequence.h"

namespace aperture::engine {

Sequence::Sequence(const LlamaConfig& config, int capacity)
    : capacity_(capacity < 1 ? 1 : capacity), kv_dim_(config.kv_dim()) {
  bytes_ = static_cast<size_t>(config.n_layers) * 2 * capacity_ * kv_dim_ * sizeof(float);
  // Not zeroed: a position is written before it is read, and calloc of a block
  // the allocator reuses would clear megabytes per request on the scheduler's
  // thread. Untouched pages of a fresh mapping cost no RSS either way.
  data_.reset(static_cast<float*>(std::malloc(bytes_)));
  if (data_ == nullptr) std::abort();  // out of memory
}

}  // namespace aperture::engine
