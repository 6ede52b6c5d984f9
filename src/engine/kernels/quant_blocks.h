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
