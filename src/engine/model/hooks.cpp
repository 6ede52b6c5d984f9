#include "engine/model/hooks.h"

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
    {P::kAttnRotQ, "attn.hook_rot_q", true, S::kQHeads},
    {P::kAttnRotK, "attn.hook_rot_k", true, S::kKvHeads},
    {P::kAttnScores, "attn.hook_attn_scores", true, S::kHeadsByKey},
    {P::kAttnPattern, "attn.hook_pattern", true, S::kHeadsByKey},
    {P::kAttnZ, "attn.hook_z", true, S::kQHeads},
    {P::kAttnOut, "hook_attn_out", true, S::kModel},
    {P::kResidMid, "hook_resid_mid", true, S::kModel},
    {P::kLn2Scale, "ln2.hook_scale", true, S::kScale},
    {P::kLn2Normalized, "ln2.hook_normalized", true, S::kModel},
    {P::kMlpPre, "mlp.hook_pre", true, S::kMlp},
    {P::kMlpPreLinear, "mlp.hook_pre_linear", true, S::kMlp},
    {P::kMlpPost, "mlp.hook_post", true, S::kMlp},
    {P::kMlpOut, "hook_mlp_out", true, S::kModel},
    {P::kResidPost, "hook_resid_post", true, S::kModel},
    {P::kLnFinalScale, "ln_final.hook_scale", false, S::kScale},
    {P::kLnFinalNormalized, "ln_final.hook_normalized", false, S::kModel},
};

}  // namespace

std::span<const SiteInfo> AllSites() { return kSites; }

const SiteInfo& Site(HookPoint point) { return kSites[static_cast<int>(point)]; }

absl::StatusOr<std::pair<HookPoint, int>> Hooks::ParseName(std::string_view name, int n_layers) {
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

std::vector<std::string> Hooks::AllNames(int n_layers) {
  std::vector<std::string> out = {std::string(Site(HookPoint::kEmbed).suffix)};
  for (int l = 0; l < n_layers; ++l) {
    for (const SiteInfo& s : kSites)
      if (s.per_layer) out.push_back(fmt::format("blocks.{}.{}", l, s.suffix));
  }
  for (const SiteInfo& s : kSites)
    if (!s.per_layer && s.point != HookPoint::kEmbed) out.emplace_back(s.suffix);
  return out;
}

absl::Status Hooks::Add(std::string_view name, int n_layers, HookFn fn) {
  auto site = ParseName(name, n_layers);
  if (!site.ok()) return site.status();
  Add(site->first, site->second, std::move(fn));
  return absl::OkStatus();
}

void Hooks::Add(HookPoint point, int layer, HookFn fn) {
  const size_t i = Index(point, layer);
  if (slots_.size() <= i) slots_.resize(i + 1);
  slots_[i].push_back(std::move(fn));
  ++count_;
}

}  // namespace aperture::engine
