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
//   blocks.L.attn.q_norm.hook_scale  [tokens, n_heads]     per head: sqrt(mean(q^2) + eps)   (Q/K norms)
//   blocks.L.attn.q_norm.hook_normalized [tokens, n_heads * d_head]  q / scale, before the gain (Q/K norms)
//   blocks.L.attn.k_norm.hook_scale / hook_normalized      the same for k, per KV head        (Q/K norms)
//   blocks.L.attn.hook_rot_q         [tokens, n_heads * d_head]     after RoPE
//   blocks.L.attn.hook_rot_k         [tokens, n_kv_heads * d_head]  after RoPE, before caching
//   blocks.L.attn.hook_attn_scores   [n_heads, position + 1] per token: q.k / sqrt(d_head)
//                                    over positions 0..position, before the softmax
//   blocks.L.attn.hook_pattern       [n_heads, position + 1] per token: softmax weights
//   blocks.L.attn.hook_z             [tokens, n_heads * d_head]  per-head outputs before W_O
//   blocks.L.ln1_post.hook_scale     [tokens, 1]        of the norm on W_O's output    (post-norms)
//   blocks.L.ln1_post.hook_normalized [tokens, d_model]                                (post-norms)
//   blocks.L.hook_attn_out           [tokens, d_model]  what attention adds to the residual
//                                                       (after W_O, and after ln1_post where there is one)
//   blocks.L.hook_resid_mid          [tokens, d_model]  residual after attention
//   blocks.L.ln2.hook_scale          [tokens, 1]        as ln1, of the MLP norm
//   blocks.L.ln2.hook_normalized     [tokens, d_model]
//   blocks.L.mlp.hook_pre            [tokens, d_mlp]    gate projection, before the activation
//   blocks.L.mlp.hook_pre_linear     [tokens, d_mlp]    up projection
//   blocks.L.mlp.hook_post           [tokens, d_mlp]    act(gate) * up, entering the down projection
//   blocks.L.ln2_post.hook_scale / hook_normalized       as ln1_post, of the MLP output (post-norms)
//   blocks.L.hook_mlp_out            [tokens, d_model]  what the MLP adds to the residual
//   blocks.L.hook_resid_post         [tokens, d_model]  residual leaving block L
//   ln_final.hook_scale              [tokens, 1]
//   ln_final.hook_normalized         [tokens, d_model]  final norm, before its gain
// Every architecture has the sites without a note. Two features add sites
// under TransformerLens's names for them: post-norms (Gemma 2 and 3: an
// RMSNorm on each sublayer's output, TransformerLens's ln1_post/ln2_post)
// and Q/K norms (Qwen3, Gemma 3: an RMSNorm over each head of q and k,
// between hook_q/hook_k and RoPE). A site means the same step in every
// architecture: hook_attn_scores are the scaled (and, for Gemma 2,
// soft-capped) scores, -inf outside a sliding window; hook_embed is the
// embedding as it enters the residual stream (Gemma's scaled by
// sqrt(d_model)); hook_q/k/v include any bias.
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
#include <optional>
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
  kAttnQNormScale,
  kAttnQNormNormalized,
  kAttnKNormScale,
  kAttnKNormNormalized,
  kAttnRotQ,
  kAttnRotK,
  kAttnScores,
  kAttnPattern,
  kAttnZ,
  kLn1PostScale,
  kLn1PostNormalized,
  kAttnOut,
  kResidMid,
  kLn2Scale,
  kLn2Normalized,
  kMlpPre,
  kMlpPreLinear,
  kMlpPost,
  kLn2PostScale,
  kLn2PostNormalized,
  kMlpOut,
  kResidPost,
  kLnFinalScale,
  kLnFinalNormalized,
};
inline constexpr int kNumHookPoints = 31;

// What a site's columns are, which fixes its TransformerLens shape.
enum class SiteShape {
  kModel,        // d_model                     -> [pos, d_model]
  kScale,        // 1                           -> [pos, 1]
  kQHeads,       // n_heads * d_head            -> [pos, head, d_head]
  kKvHeads,      // n_kv_heads * d_head         -> [pos, kv_head, d_head]
  kMlp,          // d_mlp                       -> [pos, d_mlp]
  kHeadsByKey,   // per token: n_heads x (position + 1) -> [head, query_pos, key_pos]
  kQHeadScale,   // n_heads (one norm scale per head)   -> [pos, head, 1]
  kKvHeadScale,  // n_kv_heads                          -> [pos, kv_head, 1]
};

// Sites only some architectures have (SiteInfo::feature); a model's set is
// LlamaConfig::site_features().
inline constexpr unsigned kSitePostNorms = 1;  // ln1_post, ln2_post
inline constexpr unsigned kSiteQkNorms = 2;    // attn.q_norm, attn.k_norm
inline constexpr unsigned kAllSiteFeatures = kSitePostNorms | kSiteQkNorms;

struct SiteInfo {
  HookPoint point;
  std::string_view suffix;  // the name after "blocks.L." (or the whole name of a global site)
  bool per_layer;
  SiteShape shape;
  unsigned feature = 0;  // 0: every architecture has it
};

// Every site in forward order (kNumHookPoints of them), of every architecture.
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
  // Unknown names, layers >= n_layers and sites of a feature the model
  // lacks (`features`: LlamaConfig::site_features()) give InvalidArgument.
  absl::Status Add(std::string_view name, int n_layers, HookFn fn, unsigned features = kAllSiteFeatures);
  void Add(HookPoint point, int layer, HookFn fn);

  // The hooks at a site, or nullptr when none (the fast path).
  const std::vector<HookFn>* At(HookPoint point, int layer) const {
    const size_t i = Index(point, layer);
    return i < slots_.size() && !slots_[i].empty() ? &slots_[i] : nullptr;
  }
  bool empty() const { return count_ == 0; }
  // The first site with a hook that a model with `features` does not have,
  // or nullopt (Runner::Forward refuses such hooks).
  std::optional<std::pair<HookPoint, int>> UnsupportedSite(unsigned features) const;

  // Parses a site name; layer is -1 for the global sites. A site of a
  // feature outside `features` is InvalidArgument naming the feature.
  static absl::StatusOr<std::pair<HookPoint, int>> ParseName(std::string_view name, int n_layers,
                                                             unsigned features = kAllSiteFeatures);
  static std::string Name(HookPoint point, int layer);
  // Every site name of a model with n_layers layers and the site `features`
  // (0: the sites every architecture has), in forward order.
  static std::vector<std::string> AllNames(int n_layers, unsigned features = 0);

 private:
  static size_t Index(HookPoint point, int layer) {
    return static_cast<size_t>(layer + 1) * kNumHookPoints + static_cast<size_t>(point);
  }
  std::vector<std::vector<HookFn>> slots_;
  int count_ = 0;
};

// Hooks that hand each batch entry's rows to that entry's own hooks
// (by_entry[e]; null for none), as views of its rows alone (entry indices
// stay the batch's): how one forward call serves requests with different
// hooks. The Hooks in by_entry must outlive the result's use.
Hooks PerEntryHooks(std::vector<const Hooks*> by_entry, int n_layers);

}  // namespace aperture::engine
