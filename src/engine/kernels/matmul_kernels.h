// Internal: the per-ISA kernel entry points behind MatMulGroups. Each computes
// rows of groups [g0, g1) of y = x * w^T with the reduction order documented
// in matmul.h, so all ISAs agree.
#pragma once

#include <cstdint>

#include "engine/kernels/matmul.h"

namespace aperture::engine::internal {

#define APERTURE_DECLARE_KERNELS(suffix)                                                                     \
  void MatMulF32x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, \
                             int64_t g1);                                                                    \
  void MatMulQ8x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,  \
                            int64_t g1);                                                                     \
  void MatMulQ4x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,  \
                            int64_t g1);                                                                     \
  float DotF32_##suffix(const float* a, const float* b, int64_t n);                                          \
  void AxpyF32_##suffix(float a, const float* x, int64_t n, float* y);                                       \
  void QuantizeActRow_##suffix(const float* x, int64_t k, int8_t* q, float* d, int32_t* s);

APERTURE_DECLARE_KERNELS(Scalar)
APERTURE_DECLARE_KERNELS(Avx2)
APERTURE_DECLARE_KERNELS(Avx512)

#undef APERTURE_DECLARE_KERNELS

// Byte offset of the scales of a Q8_0x16 / Q4_0x16 group (they follow the quants).
inline int64_t Q8GroupScalesOffset(int64_t blocks) { return blocks * 512; }
inline int64_t Q4GroupScalesOffset(int64_t blocks) { return blocks * 256; }

}  // namespace aperture::engine::internal
