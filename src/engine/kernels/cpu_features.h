// Which SIMD instruction set the kernels use. Detected once at run time (the
// build baseline is x86-64-v2); tests may force a lower level to check that
// every path computes the same results.
#pragma once

#include <vector>

namespace aperture::engine {

enum class Isa {
  kScalar = 0,      // portable C++
  kAvx2 = 1,        // AVX2 + FMA + F16C
  kAvx512 = 2,      // AVX-512 F/BW/VL + VNNI (a CPU without VNNI runs the AVX2 kernels)
  kAvx512Bf16 = 3,  // kAvx512 + AVX512_BF16 (vdpbf16ps for BF16 weights)
};

// The best level this CPU supports.
Isa DetectIsa();

// Every level this CPU runs, lowest (kScalar) first.
std::vector<Isa> AvailableIsas();

// The level kernels use now (DetectIsa() unless forced).
Isa ActiveIsa();

// Forces a level for tests and benchmarks; a level the CPU lacks is clamped
// to DetectIsa(). Not thread-safe against concurrent kernel calls.
void SetActiveIsa(Isa isa);

const char* IsaName(Isa isa);

}  // namespace aperture::engine
