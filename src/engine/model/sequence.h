// Sequence: one conversation's state in the model, i.e. its KV cache (the
// post-RoPE keys and the values of every layer for every position so far).
// Memory for `capacity` positions is reserved up front but only touched as
// positions are filled. Not thread-safe: one forward pass at a time uses it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>

#include "engine/model/llama_config.h"

namespace aperture::engine {

class Sequence {
 public:
  // capacity: the most positions (prompt + generated) the sequence can hold.
  Sequence(const LlamaConfig& config, int capacity);

  int position() const { return position_; }  // tokens already in the cache
  int capacity() const { return capacity_; }
  // Forgets positions >= n (n <= position()), e.g. to reuse a shared prefix.
  void Truncate(int n) {
    if (n >= 0 && n < position_) position_ = n;
  }
  void Clear() { position_ = 0; }
  size_t bytes() const { return bytes_; }

  // Rows of kv_dim floats: keys / values of `layer` at position `pos`.
  float* key(int layer, int pos) { return data_.get() + Offset(layer, 0, pos); }
  float* value(int layer, int pos) { return data_.get() + Offset(layer, 1, pos); }
  const float* key(int layer, int pos) const { return data_.get() + Offset(layer, 0, pos); }
  const float* value(int layer, int pos) const { return data_.get() + Offset(layer, 1, pos); }
  int kv_dim() const { return kv_dim_; }

  // Called by the runner once new positions are written.
  void Advance(int n) { position_ += n; }

 private:
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  size_t Offset(int layer, int kind, int pos) const {
    return ((static_cast<size_t>(layer) * 2 + kind) * capacity_ + pos) * kv_dim_;
  }
  int capacity_;
  int kv_dim_;
  int position_ = 0;
  size_t bytes_;
  std::unique_ptr<float, FreeDeleter> data_;
};

}  // namespace aperture::engine
