// BF16x16 matrices with AVX512_BF16: one vdpbf16ps multiplies a 64-byte
// load (16 rows x a pair of k) by a broadcast pair of bfloat16 activations,
// twice the multiply-adds of an FMA. Its arithmetic (odd product, then even,
// each sum rounded once) is what MatMulBF16x16_* compute with FMAs. Compiled
// for the ISA by the target pragma after every include; called only when
// the CPU has it.
#include <immintrin.h>

#include <cstdint>
#include <cstring>

#include "engine/kernels/matmul_kernels.h"

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512bf16,avx2,fma,f16c")

namespace aperture::engine::internal {
namespace {

inline void StoreRows(float* dst, __m512 v, int nr) {
  if (nr == kRowGroup) {
    _mm512_storeu_ps(dst, v);
  } else {
    _mm512_mask_storeu_ps(dst, static_cast<__mmask16>((1u << nr) - 1), v);
  }
}

// G consecutive groups x T activation rows (from m0), pairs of k in order.
template <int G, int T>
inline void Tile(const PackedMatrix& w, int64_t g, const Activations& x, int m0, float* y, int64_t ldy) {
  const int64_t pairs = w.cols() / 2;
  const unsigned char* wg[G];
  for (int i = 0; i < G; ++i) wg[i] = w.group_data(g + i);
  const uint16_t* xr[T];
  for (int t = 0; t < T; ++t) xr[t] = x.bf16(m0 + t);
  __m512 acc[G][T];
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i)
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) acc[i][t] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
#pragma GCC unroll 8
    for (int i = 0; i < G; ++i) {
      const __m512bh wv = reinterpret_cast<__m512bh>(_mm512_load_si512(wg[i] + p * 64));
      // The activation pair is broadcast from memory inside the product
      // ({1to16} operand), so no register holds it.
#pragma GCC unroll 8
      for (int t = 0; t < T; ++t) {
        int32_t v;
        std::memcpy(&v, xr[t] + 2 * p, 4);
        acc[i][t] = _mm512_dpbf16_ps(acc[i][t], wv, reinterpret_cast<__m512bh>(_mm512_set1_epi32(v)));
      }
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < G; ++i) {
    const int nr = RowsInGroup(w, g + i);
#pragma GCC unroll 8
    for (int t = 0; t < T; ++t) StoreRows(y + (m0 + t) * ldy + (g + i) * kRowGroup, acc[i][t], nr);
  }
}

template <int G>
inline void Rows(const PackedMatrix& w, int64_t g, const Activations& x, float* y, int64_t ldy) {
  constexpr int kT = G == 1 ? 12 : 6;
  int m = 0;
  for (; m + kT <= x.m(); m += kT) Tile<G, kT>(w, g, x, m, y, ldy);
  switch (x.m() - m) {
    case 0:
      break;
    case 1:
      Tile<G, 1>(w, g, x, m, y, ldy);
      break;
    case 2:
      Tile<G, 2>(w, g, x, m, y, ldy);
      break;
    case 3:
      Tile<G, 3>(w, g, x, m, y, ldy);
      break;
    case 4:
      Tile<G, 4>(w, g, x, m, y, ldy);
      break;
    case 5:
      Tile<G, 5>(w, g, x, m, y, ldy);
      break;
    default:
      for (; m < x.m(); ++m) Tile<G, 1>(w, g, x, m, y, ldy);
  }
}

}  // namespace

void MatMulBF16x16_Avx512Bf16(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0,
                              int64_t g1) {
  int64_t g = g0;
  if (x.m() == 1) {
    for (; g + 4 <= g1; g += 4) Tile<4, 1>(w, g, x, 0, y, ldy);
  } else {
    for (; g + 4 <= g1; g += 4) Rows<4>(w, g, x, y, ldy);
  }
  for (; g < g1; ++g) Rows<1>(w, g, x, y, ldy);
}

}  // namespace aperture::engine::internal

#pragma GCC pop_options
