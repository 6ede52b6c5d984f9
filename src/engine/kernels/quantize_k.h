// Internal: encoding and decoding of the super-block types (the K-quants
// Q2_K..Q6_K, Q8_K and IQ4_XS), behind quantize.h's DequantizeRow and
// QuantizeRow, plus the scale unpacking the repacking code shares.
// Layouts are in quant_blocks.h. Pure functions; thread-safe.
#pragma once

#include <cstdint>

#include "engine/kernels/quant_blocks.h"

namespace aperture::engine::internal {

// The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block.
inline void ScaleMinK4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
    *m = (q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4);
  }
}

// The 6-bit scale (0..63, 32 meaning 0) of sub-block i (0..15) of a Q3_K super-block.
inline int ScaleQ3K(int i, const uint8_t* scales) {
  const int low = i < 8 ? scales[i] & 0xF : scales[i - 8] >> 4;
  const int high = (scales[8 + i % 4] >> (2 * (i / 4))) & 3;
  return low | (high << 4);
}

// The 6-bit scale (0..63, 32 meaning 0) of sub-block i (0..7) of an IQ4_XS super-block.
inline int ScaleIQ4XS(int i, const BlockIQ4_XS& b) {
  return ((b.scales_l[i / 2] >> (4 * (i % 2))) & 0xF) | (((b.scales_h >> (2 * i)) & 3) << 4);
}

void DequantQ2_K(const BlockQ2_K* x, float* y, int64_t nb);
void DequantQ3_K(const BlockQ3_K* x, float* y, int64_t nb);
void DequantQ4_K(const BlockQ4_K* x, float* y, int64_t nb);
void DequantQ5_K(const BlockQ5_K* x, float* y, int64_t nb);
void DequantQ6_K(const BlockQ6_K* x, float* y, int64_t nb);
void DequantIQ4_XS(const BlockIQ4_XS* x, float* y, int64_t nb);
void DequantQ8_K(const BlockQ8_K* x, float* y, int64_t nb);

void QuantQ2_K(const float* x, BlockQ2_K* y, int64_t nb);
void QuantQ3_K(const float* x, BlockQ3_K* y, int64_t nb);
void QuantQ4_K(const float* x, BlockQ4_K* y, int64_t nb);
void QuantQ5_K(const float* x, BlockQ5_K* y, int64_t nb);
void QuantQ6_K(const float* x, BlockQ6_K* y, int64_t nb);
void QuantIQ4_XS(const float* x, BlockIQ4_XS* y, int64_t nb);

}  // namespace aperture::engine::internal
