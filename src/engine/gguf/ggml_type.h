// The ggml tensor element types as numbered in GGUF files, with their block
// layouts (elements per block, bytes per block) and overflow-checked size
// arithmetic for rows and whole tensors.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace aperture::engine {

// Numeric values are the on-disk ids of the GGUF/ggml specification.
enum class GgmlType : uint32_t {
  kF32 = 0,
  kF16 = 1,
  kQ4_0 = 2,
  kQ4_1 = 3,
  // 4 and 5 (Q4_2, Q4_3) were removed from ggml.
  kQ5_0 = 6,
  kQ5_1 = 7,
  kQ8_0 = 8,
  kQ8_1 = 9,
  kQ2_K = 10,
  kQ3_K = 11,
  kQ4_K = 12,
  kQ5_K = 13,
  kQ6_K = 14,
  kQ8_K = 15,
  kIQ2_XXS = 16,
  kIQ2_XS = 17,
  kIQ3_XXS = 18,
  kIQ1_S = 19,
  kIQ4_NL = 20,
  kIQ3_S = 21,
  kIQ2_S = 22,
  kIQ4_XS = 23,
  kI8 = 24,
  kI16 = 25,
  kI32 = 26,
  kI64 = 27,
  kF64 = 28,
  kIQ1_M = 29,
  kBF16 = 30,
};

// Elements per quantisation block of the "K" types.
inline constexpr int64_t kQK_K = 256;

// Block layouts (bytes), following ggml-common.h. ggml_half is 2 bytes.
//   Q4_0: { half d; uint8 qs[16]; }                       32 elements, 18 bytes
//   Q4_1: { half d, m; uint8 qs[16]; }                    32 elements, 20 bytes
//   Q8_0: { half d; int8 qs[32]; }                        32 elements, 34 bytes
//   Q4_K: { half d, dmin; uint8 scales[12]; uint8 qs[128]; }       256, 144
//   Q5_K: { half d, dmin; uint8 scales[12]; uint8 qh[32]; uint8 qs[128]; } 256, 176
//   Q6_K: { uint8 ql[128]; uint8 qh[64]; int8 scales[16]; half d; } 256, 210
//   Q2_K: { uint8 scales[16]; uint8 qs[64]; half d, dmin; }        256, 84
//   Q3_K: { uint8 hmask[32]; uint8 qs[64]; uint8 scales[12]; half d; } 256, 110
//   IQ4_XS: { half d; uint16 scales_h; uint8 scales_l[4]; uint8 qs[128]; } 256, 136
struct GgmlTypeInfo {
  const char* name;    // "f32", "q4_0", "q4_K", ... as ggml names them
  int64_t block_size;  // elements per block
  int64_t type_size;   // bytes per block
};

// Layout of a known type; nullopt for an id ggml does not define.
std::optional<GgmlTypeInfo> GetGgmlTypeInfo(uint32_t id);
inline std::optional<GgmlTypeInfo> GetGgmlTypeInfo(GgmlType t) { return GetGgmlTypeInfo(static_cast<uint32_t>(t)); }

// True for the ids above (the ones whose sizes the reader can check).
bool IsKnownGgmlType(uint32_t id);

// True for the types the engine's kernels compute with:
// F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ4_XS.
bool IsEngineSupportedType(GgmlType t);

// "q4_0" etc.; "unknown" for an undefined id.
const char* GgmlTypeName(GgmlType t);
// Accepts ggml's names case-insensitively ("q4_k", "Q4_K", "f32", "bf16").
std::optional<GgmlType> GgmlTypeFromName(std::string_view name);

// Bytes of `n_elements` consecutive elements of type `t`. Errors when the
// type is unknown, `n_elements` is not a multiple of the block size, or the
// size overflows 63 bits.
absl::StatusOr<uint64_t> GgmlRowBytes(GgmlType t, uint64_t n_elements);

// Product of dims with an overflow check (each product stays below 2^63).
absl::StatusOr<uint64_t> GgmlElementCount(std::span<const int64_t> dims);

// Bytes of a whole tensor with shape `dims` (dims[0] is the row length and
// must be a multiple of the block size).
absl::StatusOr<uint64_t> GgmlTensorBytes(GgmlType t, std::span<const int64_t> dims);

}  // namespace aperture::engine
