// Row-wise conversion between float and every supported tensor type:
// dequantization (loading weights, embedding lookups, references) and
// quantization (the test-model generator, activations for integer kernels).
// All functions are pure and thread-safe.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "engine/kernels/quant_blocks.h"

namespace aperture::engine {

// Whether DequantizeRow supports `type`.
bool CanDequantize(GgmlType type);

// Writes n floats decoded from `src` (n a multiple of the type's block size).
void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n);

// Whether QuantizeRow supports `type`.
bool CanQuantize(GgmlType type);

// Encodes n floats into `dst` (RowBytes(type, n) bytes). Types that cannot be
// produced, or n not a multiple of the block size, give InvalidArgument.
absl::Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n);

}  // namespace aperture::engine
