#include "engine/model/architecture.h"

namespace aperture::engine {
namespace {

using R = RopeLayout;
using A = FfnActivation;

// clang-format off
constexpr Architecture kArchitectures[] = {
    // name    rope               activation    fused  fused    qk     post   embed  soft   final  swa  swa rope  27B     long
    //                                          qkv    gate_up  norm   norms  scale  caps   cap    per. base      layers  rope
    {"llama",  R::kAdjacentPairs, A::kSilu,     false, false,   false, false, false, false, false, 0,   0.f,      0,      false},
    {"qwen2",  R::kHalves,        A::kSilu,     false, false,   false, false, false, false, false, 0,   0.f,      0,      false},
    {"qwen3",  R::kHalves,        A::kSilu,     false, false,   true,  false, false, false, false, 0,   0.f,      0,      false},
    {"phi3",   R::kHalves,        A::kSilu,     true,  true,    false, false, false, false, false, 0,   0.f,      0,      true},
    {"gemma2", R::kHalves,        A::kGeluTanh, false, false,   false, true,  true,  true,  true,  2,   0.f,      46,     false},
    {"gemma3", R::kHalves,        A::kGeluTanh, false, false,   true,  true,  true,  false, true,  6,   10000.f,  62,     false},
};
// clang-format on

}  // namespace

const Architecture* FindArchitecture(std::string_view name) {
  for (const Architecture& a : kArchitectures) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

std::span<const Architecture> Architectures() { return kArchitectures; }

}  // namespace aperture::engine
