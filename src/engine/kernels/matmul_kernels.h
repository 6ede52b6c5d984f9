// Internal: the per-ISA kernel entry points behind MatMulGroups. Each computes
// rows of groups [g0, g1) of y = x * w^T with the reduction order documented
// in matmul.h, so all ISAs agree.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "engine/kernels/matmul.h"

namespace aperture::engine::internal {

#define APERTURE_DECLARE_KERNELS(suffix)                                                                             \
  void MatMulF32x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,         \
                             int64_t g1);                                                                            \
  void MatMulQ8x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,          \
                            int64_t g1);                                                                             \
  void MatMulQ4x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,          \
                            int64_t g1);                                                                             \
  void MatMulF16x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,         \
                             int64_t g1);                                                                            \
  void MatMulBF16x16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,        \
                              int64_t g1);                                                                           \
  void MatMulQ4Kx16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,         \
                             int64_t g1);                                                                            \
  void MatMulQ5Kx16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,         \
                             int64_t g1);                                                                            \
  void MatMulQ6Kx16_##suffix(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,         \
                             int64_t g1);                                                                            \
  float DotF32_##suffix(const float* a, const float* b, int64_t n);                                                  \
  void AxpyF32_##suffix(float a, const float* x, int64_t n, float* y);                                               \
  void DotRowsF32_##suffix(const float* q, const float* rows, int64_t stride, int64_t count, int64_t n, float scale, \
                           float* out);                                                                              \
  void AxpyRowsF32_##suffix(const float* w, const float* rows, int64_t stride, int64_t count, int64_t n, float* y);  \
  int64_t ArgMaxF32_##suffix(const float* x, int64_t n);                                                             \
  void ExpF32_##suffix(const float* x, float shift, float scale, int64_t n, float* out);                             \
  void QuantizeActRow_##suffix(const float* x, int64_t k, int8_t* q, float* d, int32_t* s);                          \
  void QuantizeActRowK_##suffix(const float* x, int64_t k, int8_t* q, float* d, int16_t* sums);                      \
  void RoundActRowBf16_##suffix(const float* x, int64_t k, uint16_t* out);

APERTURE_DECLARE_KERNELS(Scalar)
APERTURE_DECLARE_KERNELS(Avx2)
APERTURE_DECLARE_KERNELS(Avx512)

#undef APERTURE_DECLARE_KERNELS

// BF16 with vdpbf16ps (AVX512_BF16): the arithmetic MatMulBF16x16_* emulate.
void MatMulBF16x16_Avx512Bf16(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,
                              int64_t g1);

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

// The K-quant layouts: a group is its rows' super-blocks in order, each the
// 16 rows' bytes of that super-block; "t" below is a byte of a row's chunk.
//
// Q4_Kx16 super-block (2304 bytes = 16 x 144):
//   [0, 2048)     nibbles [pair p 0..3][chunk c 0..7][row][4]: qs[32p + 4c + t] of the row's
//                 block (low nibble: element 64p + 4c + t, sub-block 2p; high nibble: element
//                 64p + 32 + 4c + t, sub-block 2p + 1)
//   [2048, 2240)  scales [word w 0..2][row][4]: bytes 4w..4w+3 of the block's 12 scale bytes
//   [2240, 2272)  d [row] f16;  [2272, 2304) dmin [row] f16
inline constexpr int64_t kQ4KBlockBytes = 2304;
inline constexpr int64_t kQ4KScalesOffset = 2048;
inline constexpr int64_t kQ4KDOffset = 2240;
inline constexpr int64_t kQ4KDminOffset = 2272;
// Q5_Kx16 super-block (2816 bytes = 16 x 176): nibbles as Q4_K, then
//   [2048, 2560)  fifth bits [chunk c 0..7][row][4]: qh[4c + t] (bit j: sub-block j)
//   then scales, d and dmin as Q4_K.
inline constexpr int64_t kQ5KBlockBytes = 2816;
inline constexpr int64_t kQ5KHighOffset = 2048;
inline constexpr int64_t kQ5KScalesOffset = 2560;
inline constexpr int64_t kQ5KDOffset = 2752;
inline constexpr int64_t kQ5KDminOffset = 2784;
// Q6_Kx16 super-block (3328 bytes; with its 32 bytes of d, 16 x 210): four
// quarters (half n, chunks 4hc..4hc+3), each read front to back:
//   [0, 256)     low nibbles of part 0 [chunk c][row][4]: ql[64n + 4c + t]
//                (low nibble: element 128n + 4c + t; high nibble: + 64)
//   [256, 512)   part 1: ql[64n + 32 + 4c + t] (elements + 32, + 96)
//   [512, 768)   high bit pairs [chunk c][row][4]: qh[32n + 4c + t] (pair k: element + 32k)
//   [768, 832)   scales [k][row] int8 of sub-blocks 8n + hc + 2k
// and after all super-blocks, d [super-block][row] f16.
inline constexpr int64_t kQ6KBlockBytes = 3328;
inline constexpr int64_t kQ6KQuarterBytes = 832;
inline constexpr int64_t Q6KLowOffset(int n, int part, int c) {
  return (2 * n + c / 4) * kQ6KQuarterBytes + part * 256 + (c % 4) * 64;
}
inline constexpr int64_t Q6KHighOffset(int n, int c) { return (2 * n + c / 4) * kQ6KQuarterBytes + 512 + (c % 4) * 64; }
inline constexpr int64_t Q6KScaleOffset(int s) {
  return (2 * (s / 8) + s % 2) * kQ6KQuarterBytes + 768 + ((s % 8) / 2) * kRowGroup;
}
inline int64_t Q6KDOffset(int64_t blocks) { return blocks * kQ6KBlockBytes; }

// bfloat16 rounding of an activation (round to nearest even), with results
// below the normal range flushed to signed zero as vdpbf16ps reads them; NaN
// stays NaN. Every ISA's RoundActRowBf16 computes this.
inline uint16_t RoundToBf16FlushSubnormal(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40);
  const uint16_t h = static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1)) >> 16);
  return (h & 0x7F80) == 0 ? static_cast<uint16_t>(h & 0x8000) : h;
}

// Rows of group g that exist (the last group may be partial).
inline int RowsInGroup(const PackedMatrix& w, int64_t g) {
  return static_cast<int>(std::min<int64_t>(kRowGroup, w.rows() - g * kRowGroup));
}

}  // namespace aperture::engine::internal
