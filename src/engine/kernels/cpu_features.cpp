#include "engine/kernels/cpu_features.h"

#include <atomic>

namespace aperture::engine {
namespace {

Isa Detect() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
      __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) {
    return Isa::kAvx512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c")) {
    return Isa::kAvx2;
  }
#endif
  return Isa::kScalar;
}

std::atomic<int>& ActiveSlot() {
  static std::atomic<int> slot{static_cast<int>(DetectIsa())};
  return slot;
}

}  // namespace

Isa DetectIsa() {
  static const Isa isa = Detect();
  return isa;
}

Isa ActiveIsa() { return static_cast<Isa>(ActiveSlot().load(std::memory_order_relaxed)); }

void SetActiveIsa(Isa isa) {
  if (static_cast<int>(isa) > static_cast<int>(DetectIsa())) isa = DetectIsa();
  ActiveSlot().store(static_cast<int>(isa), std::memory_order_relaxed);
}

const char* IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "?";
}

}  // namespace aperture::engine
