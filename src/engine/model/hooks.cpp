#include "engine/model/hooks.h"

#include <memory>

#include "absl/strings/numbers.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

using P = HookPoint;
using S = SiteShape;
constexpr SiteInfo kSites[kNumHookPoints] = {
    {P::kEmbed, "hook_embed", false, S::kModel},
    {P::kResidPre, "hook_resid_pre", true, S::kModel},
    {P::kLn1Scale, "ln1.hook_scale", true, S::kScale},
    {P::kLn1Normalized, "ln1.hook_normalized", true, S::kModel},
    {P::kAttnQ, "attn.hook_q", true, S::kQHeads},
    {P::kAttnK, "attn.hook_k", true, S::kKvHeads},
    {P::kAttnV, "attn.hook_v", true, S::kKvHeads},
    {P::kAttnQNormScale, "attn.q_norm.hook_scale", true, S::kQHeadScale, kSiteQkNorms},
    {P::kAttnQNormNormalized, "attn.q_norm.hook_normalized", true, S::kQHeads, kSiteQkNorms},
    {P::kAttnKNormScale, "attn.k_norm.hook_scale", true, S::kKvHeadScale, kSiteQkNorms},
    {P::kAttnKNormNormalized, "attn.k_norm.hook_normalized", true, S::kKvHeads, kSiteQkNorms},
    {P::kAttnRotQ, "attn.hook_rot_q", true, S::kQHeads},
    {P::kAttnRotK, "attn.hook_rot_k", true, S::kKvHeads},
    {P::kAttnScores, "attn.hook_attn_scores", true, S::kHeadsByKey},
    {P::kAttnPattern, "attn.hook_pattern", true, S::kHeadsByKey},
    {P::kAttnZ, "attn.hook_z", true, S::kQHeads},
    {P::kLn1PostScale, "ln1_post.hook_scale", true, S::kScale, kSitePostNorms},
    {P::kLn1PostNormalized, "ln1_post.hook_normalized", true, S::kModel, kSitePostNorms},
    {P::kAttnOut, "hook_attn_out", true, S::kModel},
    {P::kResidMid, "hook_resid_mid", true, S::kModel},
    {P::kLn2Scale, "ln2.hook_scale", true, S::kScale},
    {P::kLn2Normalized, "ln2.hook_normalized", true, S::kModel},
    {P::kMlpPre, "mlp.hook_pre", true, S::kMlp},
    {P::kMlpPreLinear, "mlp.hook_pre_linear", true, S::kMlp},
    {P::kMlpPost, "mlp.hook_post", true, S::kMlp},
    {P::kLn2PostScale, "ln2_post.hook_scale", true, S::kScale, kSitePostNorms},
    {P::kLn2PostNormalized, "ln2_post.hook_normalized", true, S::kModel, kSitePostNorms},
    {P::kMlpOut, "hook_mlp_out", true, S::kModel},
    {P::kResidPost, "hook_resid_post", true, S::kModel},
    {P::kLnFinalScale, "ln_final.hook_scale", false, S::kScale},
    {P::kLnFinalNormalized, "ln_final.hook_normalized", false, S::kModel},
};

std::string_view FeatureName(unsigned feature) {
  return feature == kSitePostNorms ? "post-norms (Gemma 2 and 3)" : "per-head Q/K norms (Qwen3, Gemma 3)";
}

}  // namespace

std::span<const SiteInfo> AllSites() { return kSites; }

const SiteInfo& Site(HookPoint point) { return kSites[static_cast<int>(point)]; }

absl::StatusOr<std::pair<HookPoint, int>> Hooks::ParseName(std::string_view name, int n_layers, unsigned features) {
  for (const SiteInfo& s : kSites) {
    if (!s.per_layer && s.suffix == name) return std::make_pair(s.point, -1);
  }
  constexpr std::string_view kPrefix = "blocks.";
  if (name.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view rest = name.substr(kPrefix.size());
    const size_t dot = rest.find('.');
    int layer = -1;
    if (dot != std::string_view::npos && dot > 0 && dot <= 6 &&
        absl::SimpleAtoi(std::string(rest.substr(0, dot)), &layer) && layer >= 0) {
      const std::string_view suffix = rest.substr(dot + 1);
      for (const SiteInfo& s : kSites) {
        if (!s.per_layer || s.suffix != suffix) continue;
        if (s.feature != 0 && (features & s.feature) == 0) {
          return absl::InvalidArgumentError(
              fmt::format("hook '{}' is a site of models with {}; this model's architecture has none", name,
                          FeatureName(s.feature)));
        }
        if (layer >= n_layers) {
          return absl::InvalidArgumentError(
              fmt::format("hook '{}' names layer {} but the model has {} layers", name, layer, n_layers));
        }
        return std::make_pair(s.point, layer);
      }
    }
  }
  return absl::InvalidArgumentError(
      fmt::format("unknown hook site '{}' (expected e.g. hook_embed, blocks.0.hook_resid_pre, "
                  "blocks.0.attn.hook_pattern, blocks.0.mlp.hook_post, ln_final.hook_normalized)",
                  name));
}

std::string Hooks::Name(HookPoint point, int layer) {
  const SiteInfo& s = Site(point);
  return s.per_layer ? fmt::format("blocks.{}.{}", layer, s.suffix) : std::string(s.suffix);
}

std::vector<std::string> Hooks::AllNames(int n_layers, unsigned features) {
  std::vector<std::string> out = {std::string(Site(HookPoint::kEmbed).suffix)};
  for (int l = 0; l < n_layers; ++l) {
    for (const SiteInfo& s : kSites)
      if (s.per_layer && (s.feature == 0 || (features & s.feature) != 0))
        out.push_back(fmt::format("blocks.{}.{}", l, s.suffix));
  }
  for (const SiteInfo& s : kSites)
    if (!s.per_layer && s.point != HookPoint::kEmbed) out.emplace_back(s.suffix);
  return out;
}

absl::Status Hooks::Add(std::string_view name, int n_layers, HookFn fn, unsigned features) {
  auto site = ParseName(name, n_layers, features);
  if (!site.ok()) return site.status();
  Add(site->first, site->second, std::move(fn));
  return absl::OkStatus();
}

std::optional<std::pair<HookPoint, int>> Hooks::UnsupportedSite(unsigned features) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i].empty()) continue;
    const HookPoint point = static_cast<HookPoint>(i % kNumHookPoints);
    const unsigned feature = Site(point).feature;
    if (feature != 0 && (features & feature) == 0) {
      return std::make_pair(point, static_cast<int>(i / kNumHookPoints) - 1);
    }
  }
  return std::nullopt;
}

void Hooks::Add(HookPoint point, int layer, HookFn fn) {
  const size_t i = Index(point, layer);
  if (slots_.size() <= i) slots_.resize(i + 1);
  slots_[i].push_back(std::move(fn));
  ++count_;
}

Hooks PerEntryHooks(std::vector<const Hooks*> by_entry, int n_layers) {
  auto entries = std::make_shared<const std::vector<const Hooks*>>(std::move(by_entry));
  Hooks out;
  for (const SiteInfo& site : kSites) {
    const int first = site.per_layer ? 0 : -1, last = site.per_layer ? n_layers - 1 : -1;
    for (int layer = first; layer <= last; ++layer) {
      const HookPoint point = site.point;
      bool any = false;
      for (const Hooks* h : *entries) any = any || (h != nullptr && h->At(point, layer) != nullptr);
      if (!any) continue;
      const bool per_token = site.shape == SiteShape::kHeadsByKey;
      out.Add(point, layer, [entries, point, layer, per_token](const ActivationView& v) {
        auto fns_of = [&](int e) -> const std::vector<HookFn>* {
          const Hooks* h = e >= 0 && e < static_cast<int>(entries->size()) ? (*entries)[e] : nullptr;
          return h != nullptr ? h->At(point, layer) : nullptr;
        };
        if (per_token) {  // one token's rows are its heads
          if (const auto* fns = fns_of(v.entry[0]))
            for (const HookFn& fn : *fns) fn(v);
          return;
        }
        for (int r = 0; r < v.rows;) {
          int end = r + 1;
          while (end < v.rows && v.entry[end] == v.entry[r]) ++end;
          if (const auto* fns = fns_of(v.entry[r])) {
            const ActivationView sub{point,
                                     layer,
                                     v.row(r),
                                     end - r,
                                     v.cols,
                                     v.ld,
                                     v.entry.subspan(r, end - r),
                                     v.position.subspan(r, end - r)};
            for (const HookFn& fn : *fns) fn(sub);
          }
          r = end;
        }
      });
    }
  }
  return out;
}

}  // namespace aperture::engine
