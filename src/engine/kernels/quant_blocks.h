// The ggml block layouts of the quantized tensor types GGUF files store
// (type ids and sizes are in engine/gguf/ggml_type.h). The structs are
// byte-exact with the ggml specification so data is read straight from files.
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/gguf/ggml_type.h"

namespace aperture::engine {

inline constexpr int kQK4_0 = 32;
inline constexpr int kQK8_0 = 32;
inline constexpr int kQKK = 256;  // super-block size of the K-quants
inline constexpr int kKScaleSize = 12;

struct BlockQ4_0 {
  uint16_t d;  // half
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_0) == 18);

struct BlockQ4_1 {
  uint16_t d;  // half
  uint16_t m;  // half
  uint8_t qs[kQK4_0 / 2];
};
static_assert(sizeof(BlockQ4_1) == 20);

struct BlockQ8_0 {
  uint16_t d;  // half
  int8_t qs[kQK8_0];
};
static_assert(sizeof(BlockQ8_0) == 34);

// Q2_K: 16 sub-blocks of 16; x = d * (sc & 15) * q - dmin * (sc >> 4), q in 0..3.
// Element 128n + 32j + l (l < 32) is bits 2j..2j+1 of qs[32n + l].
struct BlockQ2_K {
  uint8_t scales[kQKK / 16];  // per sub-block: scale (low nibble) | min (high nibble)
  uint8_t qs[kQKK / 4];
  uint16_t d;     // half
  uint16_t dmin;  // half
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K: 16 sub-blocks of 16; x = d * (s - 32) * (q - 4), q in 0..7. The low
// two bits of element 128n + 32j + l are bits 2j..2j+1 of qs[32n + l]; its
// third bit is bit e / 32 of hmask[e % 32]. The 6-bit s of sub-block i: low
// nibble of scales[i] (i < 8) or its high nibble (scales[i - 8]), high two
// bits from bits 2(i / 4).. of scales[8 + i % 4].
struct BlockQ3_K {
  uint8_t hmask[kQKK / 8];
  uint8_t qs[kQKK / 4];
  uint8_t scales[kKScaleSize];
  uint16_t d;  // half
};
static_assert(sizeof(BlockQ3_K) == 110);

struct BlockQ4_K {
  uint16_t d;                   // half: super-block scale for the quantized scales
  uint16_t dmin;                // half: super-block scale for the quantized mins
  uint8_t scales[kKScaleSize];  // 8 scales and 8 mins, 6 bits each
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ4_K) == 144);

struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[kKScaleSize];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockQ5_K) == 176);

struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;  // half
};
static_assert(sizeof(BlockQ6_K) == 210);

// IQ4_XS: 8 sub-blocks of 32; x = d * (ls - 32) * kIq4NlValues[nibble], the
// 6-bit ls of sub-block i being nibble i % 2 of scales_l[i / 2] plus bits
// 2i..2i+1 of scales_h as its high bits. Element 32i + j is the low nibble of
// qs[16i + j] (j < 16) or the high nibble of qs[16i + j - 16].
struct BlockIQ4_XS {
  uint16_t d;  // half
  uint16_t scales_h;
  uint8_t scales_l[kQKK / 64];
  uint8_t qs[kQKK / 2];
};
static_assert(sizeof(BlockIQ4_XS) == 136);

// The 16 non-linear levels of IQ4_NL / IQ4_XS.
inline constexpr int8_t kIq4NlValues[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

struct BlockQ8_K {
  float d;
  int8_t qs[kQKK];
  int16_t bsums[kQKK / 16];
};
static_assert(sizeof(BlockQ8_K) == 292);

// Bytes of one row of `n` elements of `type` (n a multiple of the block
// size, type known); 0 for an unknown type.
inline size_t RowBytes(GgmlType type, int64_t n) {
  auto info = GetGgmlTypeInfo(type);
  if (!info) return 0;
  return static_cast<size_t>(n / info->block_size) * static_cast<size_t>(info->type_size);
}

}  // namespace aperture::engine
