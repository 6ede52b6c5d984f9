// Hooks: callbacks at the named sites of the forward pass, using
// TransformerLens names, so research tools can read and overwrite
// activations (caching, steering, patching, ablation). With no hooks the
// forward pass pays one null check per site.
//
// Sites, in forward order (L is the layer). Views are the engine's: one row
// per token of the forward call, heads side by side within a row; the
// research API reshapes them to TransformerLens's shapes.
//   hook_embed                       [tokens, d_model]  token embeddings
//   blocks.L.hook_resid_pre          [tokens, d_model]  residual entering block L
//   blocks.L.ln1.hook_scale          [tokens, 1]        sqrt(mean(x^2) + eps) of the attention norm
//   blocks.L.ln1.hook_normalized     [tokens, d_model]  x / scale, before the norm's gain
//   blocks.L.attn.hook_q             [tokens, n_heads * d_head]     before RoPE
//   blocks.L.attn.hook_k / hook_v    [tokens, n_kv_heads * d_head]  before RoPE / caching
//   blocks.L.attn.hook_rot_q         [tokens, n_heads * d_head]     after RoPE
//   blocks.L.attn.hook_rot_k         [tokens, n_kv_heads * d_head]  after RoPE, before caching
//   blocks.L.attn.hook_attn_scores   [n_heads, position + 1] per token: q.k / sqrt(d_head)
//                                    over positions 0..position, before the softmax
//   blocks.L.attn.hook_pattern       [n_heads, position + 1] per token: softmax weights
//   blocks.L.attn.hook_z             [tokens, n_heads * d_head]  per-head outputs before W_O
//   blocks.L.hook_attn_out           [tokens, d_model]  attention output (after W_O)
//   blocks.L.hook_resid_mid          [tokens, d_model]  residual after attention
//   blocks.L.ln2.hook_scale          [tokens, 1]        as ln1, of the MLP norm
//   blocks.L.ln2.hook_normalized     [tokens, d_model]
//   blocks.L.mlp.hook_pre            [tokens, d_mlp]    gate projection, before the activation
//   blocks.L.mlp.hook_pre_linear     [tokens, d_mlp]    up projection
//   blocks.L.mlp.hook_post           [tokens, d_mlp]    act(gate) * up, entering the down projection
//   blocks.L.hook_mlp_out            [tokens, d_model]  MLP output
//   blocks.L.hook_resid_post         [tokens, d_model]  residual leaving block L
//   ln_final.hook_scale              [tokens, 1]
//   ln_final.hook_normalized         [tokens, d_model]  final norm, before its gain
// "tokens" are the rows of one forward call: every batch entry's new tokens
// in order; ActivationView says which entry and position each row is. The
// two attention-weight sites are called once per token (one row per head).
// A hook that writes a site changes everything computed from it: a scale
// rescales the normalised row, scores are re-softmaxed, and so on.
//
// Usage:
//   Hooks hooks;
//   RETURN_IF_ERROR(hooks.Add("blocks.3.hook_resid_post", n_layers, [&](const ActivationView& v) {
//     for (int r = 0; r < v.rows; ++r) Save(v.position[r], v.row(r), v.cols);
//   }));
//   RETURN_IF_ERROR(runner.Forward(batch, &hooks));
//
// Thread-safety: a Hooks object is read-only during a forward pass; hooks
// run on the thread that called Runner::Forward, one at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace aperture::engine {

enum class HookPoint : int {
  kEmbed = 0,
  kResidPre,
  kLn1Scale,
  kLn1Normalized,
  kAttnQ,
  kAttnK,
  kAttnV,
  kAttnRotQ,
  kAttnRotK,
  kAttnScores,
  kAttnPattern,
  kAttnZ,
  kAttnOut,
  kResidMid,
  kLn2Scale,
  kLn2Normalized,
  kMlpPre,
  kMlpPreLinear,
  kMlpPost,
  kMlpOut,
  kResidPost,
  kLnFinalScale,
  kLnFinalNormalized,
};
inline constexpr int kNumHookPoints = 23;

// What a site's columns are, which fixes its TransformerLens shape.
enum class SiteShape {
  kModel,       // d_model                     -> [pos, d_model]
  kScale,       // 1                           -> [pos, 1]
  kQHeads,      // n_heads * d_head            -> [pos, head, d_head]
  kKvHeads,     // n_kv_heads * d_head         -> [pos, kv_head, d_head]
  kMlp,         // d_mlp                       -> [pos, d_mlp]
  kHeadsByKey,  // per token: n_heads x (position + 1) -> [head, query_pos, key_pos]
};

struct SiteInfo {
  HookPoint point;
  std::string_view suffix;  // the name after "blocks.L." (or the whole name of a global site)
  bool per_layer;
  SiteShape shape;
};

// Every site in forward order (kNumHookPoints of them).
std::span<const SiteInfo> AllSites();
const SiteInfo& Site(HookPoint point);

// A writable view of one activation: rows x cols floats with row stride ld.
struct ActivationView {
  HookPoint point;
  int layer;  // -1 for the global sites (hook_embed, ln_final.*)
  float* data;
  int rows;
  int cols;
  int64_t ld;
  // Per row (for the per-token attention sites: the single token the view belongs to):
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

  // Parses a site name; layer is -1 for the global sites.
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
