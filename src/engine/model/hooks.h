// Hooks: callbacks at the named sites of the forward pass, using
// TransformerLens names, so research tools can read and overwrite
// activations (caching, steering, patching, ablation). With no hooks the
// forward pass pays one null check per site.
//
// Sites (L is the layer):
//   hook_embed                       [tokens, d_model]  token embeddings
//   blocks.L.hook_resid_pre          [tokens, d_model]  residual entering block L
//   blocks.L.attn.hook_q             [tokens, n_heads * d_head]     before RoPE
//   blocks.L.attn.hook_k / hook_v    [tokens, n_kv_heads * d_head]  before RoPE / caching
//   blocks.L.attn.hook_pattern       [n_heads, n_ctx] per token: softmax weights
//                                    over positions 0..position (called once per token)
//   blocks.L.hook_attn_out           [tokens, d_model]  attention output (after W_O)
//   blocks.L.hook_mlp_out            [tokens, d_model]  MLP output
//   blocks.L.hook_resid_post         [tokens, d_model]  residual leaving block L
//   ln_final.hook_normalized         [tokens, d_model]  final RMS norm, before its gain
// "tokens" are the rows of one forward call: every batch entry's new tokens
// in order; ActivationView says which entry and position each row is.
//
// Thread-safety: a Hooks object is read-only during a forward pass; hooks
// run on the thread that called Runner::Forward, one at a time.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aperture::engine {

enum class HookPoint : int {
  kEmbed = 0,
  kResidPre,
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnPattern,
  kAttnOut,
  kMlpOut,
  kResidPost,
  kLnFinalNormalized,
};
inline constexpr int kNumHookPoints = 10;

// A writable view of one activation: rows x cols floats with row stride ld.
struct ActivationView {
  HookPoint point;
  int layer;  // -1 for hook_embed and ln_final.hook_normalized
  float* data;
  int rows;
  int cols;
  int64_t ld;
  // Per row (for kAttnPattern: the single token the view belongs to):
  std::span<const int> entry;     // index of the batch entry
  std::span<const int> position;  // position in that entry's sequence

  float* row(int r) const { return data + r * ld; }
};

using HookFn = std::function<void(const ActivationView&)>;

class Hooks {
 public:
  // Registers fn at `name` (TransformerLens spelling, e.g.
  // "blocks.3.hook_resid_post"); several hooks at one site run in order.
  // Unknown names and layers >= n_layers give InvalidArgument.
  absl::Status Add(std::string_view name, int n_layers, HookFn fn);
  void Add(HookPoint point, int layer, HookFn fn);

  // The hooks at a site, or nullptr when none (the fast path).
  const std::vector<HookFn>* At(HookPoint point, int layer) const {
    const size_t i = Index(point, layer);
    return i < slots_.size() && !slots_[i].empty() ? &slots_[i] : nullptr;
  }
  bool empty() const { return count_ == 0; }

  // Parses a site name; layer is -1 for the two global sites.
  static absl::StatusOr<std::pair<HookPoint, int>> ParseName(std::string_view name, int n_layers);
  static std::string Name(HookPoint point, int layer);
  // Every site name of a model with n_layers layers, in forward order.
  static std::vector<std::string> AllNames(int n_layers);

 private:
  static size_t Index(HookPoint point, int layer) {
    return static_cast<size_t>(layer + 1) * kNumHookPoints + static_cast<size_t>(point);
  }
  std::vector<std::vector<HookFn>> slots_;
  int count_ = 0;
};

}  // namespace aperture::engine
