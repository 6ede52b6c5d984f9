#include "scheduler/sequence_copy.h"

#include <cstring>

#include "fmt/format.h"

namespace aperture::scheduler {

absl::Status CopyPrefix(const engine::LlamaConfig& config, const engine::Sequence& from, int n, engine::Sequence* to) {
  if (n < 0 || n > from.position() || n > to->capacity() || from.kv_dim() != to->kv_dim()) {
    return absl::InvalidArgumentError(
        fmt::format("cannot copy {} positions from a sequence holding {} into one of capacity {}", n, from.position(),
                    to->capacity()));
  }
  const size_t row_bytes = static_cast<size_t>(from.kv_dim()) * sizeof(float);
  // Row by row through the public accessors: no assumption on the cache layout.
  for (int layer = 0; layer < config.n_layers; ++layer) {
    for (int pos = 0; pos < n; ++pos) {
      std::memcpy(to->key(layer, pos), from.key(layer, pos), row_bytes);
      std::memcpy(to->value(layer, pos), from.value(layer, pos), row_bytes);
    }
  }
  to->Clear();
  to->Advance(n);
  return absl::OkStatus();
}

}  // namespace aperture::scheduler
