// Internal: the per-ISA kernel entry points behind MatMulGroups. Each computes
// rows of groups [g0, g1) of y = x * w^T with the reduction order documented
// in matmul.h, so all ISAs agree.
#pragma once

#include <cstdint>

#include "engine/kernels/matmul.h"

namespace aperture::engine::internal {

#define APERTURE_DECLARE_KERNELS(suffix)                                                                             \
  void MatMulF32x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,         \
                             int64_t g1);                                                                            \
  void MatMulQ8x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,          \
                            int64_t g1);                                                                             \
  void MatMulQ4x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,          \
                            int64_t g1);                                                                             \
  float DotF32_##suffix(const float* a, const float* b, int64_t n);                                                  \
  void AxpyF32_##suffix(float a, const float* x, int64_t n, float* y);                                               \
  void DotRowsF32_##suffix(const float* q, const float* rows, int64_t stride, int64_t count, int64_t n, float scale, \
                           float* out);                                                                              \
  void AxpyRowsF32_##suffix(const float* w, const float* rows, int64_t stride, int64_t count, int64_t n, float* y);  \
  int64_t ArgMaxF32_##suffix(const float* x, int64_t n);                                                             \
  void ExpF32_##suffix(const float* x, float shift, float scale, int64_t n, float* out);                             \
  void QuantizeActRow_##suffix(const float* x, int64_t k, int8_t* q, float* d, int32_t* s);

APERTURE_DECLARE_KERNELS(Scalar)
APERTURE_DECLARE_KERNELS(Avx2)
APERTURE_DECLARE_KERNELS(Avx512)

#undef APERTURE_DECLARE_KERNELS

// exp(d) for d = (x - shift) * scale, the same float on every ISA: the range
// is split as d = n ln2 + r (Cody-Waite, two FMAs), e^r is a degree-7
// polynomial (Cephes' coefficients, about 1 ulp), and 2^n goes into the
// exponent bits. d < -87 gives exactly 0 (so denormals never appear),
// d > 88.3 gives +inf, NaN stays NaN. The SIMD paths compute these same
// operations lane by lane.
inline constexpr float kExpMin = -87.0f;
inline constexpr float kExpMax = 88.3f;
inline constexpr float kLog2e = 1.44269504088896341f;
inline constexpr float kLn2Hi = 0.693359375f;
inline constexpr float kLn2Lo = -2.12194440e-4f;
inline constexpr float kExpPoly[6] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                      4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

// Byte offset of the scales of a Q8_0x16 / Q4_0x16 group (they follow the quants).
inline int64_t Q8GroupScalesOffset(int64_t blocks) { return blocks * 512; }
inline int64_t Q4GroupScalesOffset(int64_t blocks) { return blocks * 256; }

}  // namespace aperture::engine::internal
