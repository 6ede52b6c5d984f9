#include "engine/model/hooks.h"

#include "absl/strings/numbers.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

struct LayerSite {
  std::string_view suffix;
  HookPoint point;
};
constexpr LayerSite kLayerSites[] = {
    {"hook_resid_pre", HookPoint::kResidPre},
    {"attn.hook_q", HookPoint::kAttnQ},
    {"attn.hook_k", HookPoint::kAttnK},
    {"attn.hook_v", HookPoint::kAttnV},
    {"attn.hook_pattern", HookPoint::kAttnPattern},
    {"hook_attn_out", HookPoint::kAttnOut},
    {"hook_mlp_out", HookPoint::kMlpOut},
    {"hook_resid_post", HookPoint::kResidPost},
};

}  // namespace

absl::StatusOr<std::pair<HookPoint, int>> Hooks::ParseName(std::string_view name, int n_layers) {
  if (name == "hook_embed") return std::make_pair(HookPoint::kEmbed, -1);
  if (name == "ln_final.hook_normalized") return std::make_pair(HookPoint::kLnFinalNormalized, -1);
  constexpr std::string_view kPrefix = "blocks.";
  if (name.substr(0, kPrefix.size()) == kPrefix) {
    std::string_view rest = name.substr(kPrefix.size());
    const size_t dot = rest.find('.');
    int layer = -1;
    if (dot != std::string_view::npos && dot > 0 && dot <= 6 &&
        absl::SimpleAtoi(std::string(rest.substr(0, dot)), &layer) && layer >= 0) {
      const std::string_view suffix = rest.substr(dot + 1);
      for (const LayerSite& s : kLayerSites) {
        if (s.suffix != suffix) continue;
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
                  "blocks.0.attn.hook_pattern, ln_final.hook_normalized)",
                  name));
}

std::string Hooks::Name(HookPoint point, int layer) {
  if (point == HookPoint::kEmbed) return "hook_embed";
  if (point == HookPoint::kLnFinalNormalized) return "ln_final.hook_normalized";
  for (const LayerSite& s : kLayerSites)
    if (s.point == point) return fmt::format("blocks.{}.{}", layer, s.suffix);
  return "?";
}

std::vector<std::string> Hooks::AllNames(int n_layers) {
  std::vector<std::string> out = {"hook_embed"};
  for (int l = 0; l < n_layers; ++l)
    for (const LayerSite& s : kLayerSites) out.push_back(fmt::format("blocks.{}.{}", l, s.suffix));
  out.push_back("ln_final.hook_normalized");
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
