#include "engine/model/sequence.h"

namespace aperture::engine {

Sequence::Sequence(const LlamaConfig& config, int capacity)
    : capacity_(capacity < 1 ? 1 : capacity), kv_dim_(config.kv_dim()) {
  bytes_ = static_cast<size_t>(config.n_layers) * 2 * capacity_ * kv_dim_ * sizeof(float);
  // calloc of a large block maps fresh zero pages: untouched positions cost no RSS.
  data_.reset(static_cast<float*>(std::calloc(bytes_ / sizeof(float), sizeof(float))));
  if (data_ == nullptr) std::abort();  // out of memory
}

}  // namespace aperture::engine
