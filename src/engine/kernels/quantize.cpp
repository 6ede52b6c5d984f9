#include "engine/kernels/quantize.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "engine/kernels/fp16.h"
#include "engine/kernels/quantize_k.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

void DequantQ4_0(const BlockQ4_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[i * 32 + j] = static_cast<float>((x[i].qs[j] & 0xF) - 8) * d;
      y[i * 32 + j + 16] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void DequantQ4_1(const BlockQ4_1* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    const float m = Fp16ToFp32(x[i].m);
    for (int j = 0; j < 16; ++j) {
      y[i * 32 + j] = static_cast<float>(x[i].qs[j] & 0xF) * d + m;
      y[i * 32 + j + 16] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

void DequantQ8_0(const BlockQ8_0* x, float* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = Fp16ToFp32(x[i].d);
    for (int j = 0; j < 32; ++j) y[i * 32 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

inline int NearestInt(float f) { return static_cast<int>(std::nearbyint(f)); }

void QuantQ8_0(const float* x, BlockQ8_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[i * 32 + j]));
    const float d = amax / 127.f;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < 32; ++j) y[i].qs[j] = static_cast<int8_t>(std::round(x[i * 32 + j] * id));
  }
}

void QuantQ4_0(const float* x, BlockQ4_0* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      const float v = x[i * 32 + j];
      if (amax < std::fabs(v)) {
        amax = std::fabs(v);
        max = v;
      }
    }
    const float d = max / -8;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>(x[i * 32 + j] * id + 8.5f));
      const int q1 = std::min(15, static_cast<int>(x[i * 32 + j + 16] * id + 8.5f));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

void QuantQ4_1(const float* x, BlockQ4_1* y, int64_t nb) {
  for (int64_t i = 0; i < nb; ++i) {
    float mn = x[i * 32], mx = x[i * 32];
    for (int j = 1; j < 32; ++j) {
      mn = std::min(mn, x[i * 32 + j]);
      mx = std::max(mx, x[i * 32 + j]);
    }
    const float d = (mx - mn) / 15;
    const float id = d != 0 ? 1.0f / d : 0.0f;
    y[i].d = Fp32ToFp16(d);
    y[i].m = Fp32ToFp16(mn);
    for (int j = 0; j < 16; ++j) {
      const int q0 = std::min(15, static_cast<int>((x[i * 32 + j] - mn) * id + 0.5f));
      const int q1 = std::min(15, static_cast<int>((x[i * 32 + j + 16] - mn) * id + 0.5f));
      y[i].qs[j] = static_cast<uint8_t>(q0 | (q1 << 4));
    }
  }
}

}  // namespace

void DequantizeRow(GgmlType type, const void* src, float* dst, int64_t n) {
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      return;
    case GgmlType::kF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Fp16ToFp32(s[i]);
      return;
    }
    case GgmlType::kBF16: {
      const auto* s = static_cast<const uint16_t*>(src);
      for (int64_t i = 0; i < n; ++i) dst[i] = Bf16ToFp32(s[i]);
      return;
    }
    case GgmlType::kQ4_0:
      return DequantQ4_0(static_cast<const BlockQ4_0*>(src), dst, n / 32);
    case GgmlType::kQ4_1:
      return DequantQ4_1(static_cast<const BlockQ4_1*>(src), dst, n / 32);
    case GgmlType::kQ8_0:
      return DequantQ8_0(static_cast<const BlockQ8_0*>(src), dst, n / 32);
    case GgmlType::kQ2_K:
      return internal::DequantQ2_K(static_cast<const BlockQ2_K*>(src), dst, n / kQKK);
    case GgmlType::kQ3_K:
      return internal::DequantQ3_K(static_cast<const BlockQ3_K*>(src), dst, n / kQKK);
    case GgmlType::kQ4_K:
      return internal::DequantQ4_K(static_cast<const BlockQ4_K*>(src), dst, n / kQKK);
    case GgmlType::kQ5_K:
      return internal::DequantQ5_K(static_cast<const BlockQ5_K*>(src), dst, n / kQKK);
    case GgmlType::kQ6_K:
      return internal::DequantQ6_K(static_cast<const BlockQ6_K*>(src), dst, n / kQKK);
    case GgmlType::kIQ4_XS:
      return internal::DequantIQ4_XS(static_cast<const BlockIQ4_XS*>(src), dst, n / kQKK);
    case GgmlType::kQ8_K:
      return internal::DequantQ8_K(static_cast<const BlockQ8_K*>(src), dst, n / kQKK);
    default:
      return;  // callers check CanDequantize first
  }
}

bool CanDequantize(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
    case GgmlType::kF16:
    case GgmlType::kBF16:
    case GgmlType::kQ4_0:
    case GgmlType::kQ4_1:
    case GgmlType::kQ8_0:
    case GgmlType::kQ2_K:
    case GgmlType::kQ3_K:
    case GgmlType::kQ4_K:
    case GgmlType::kQ5_K:
    case GgmlType::kQ6_K:
    case GgmlType::kIQ4_XS:
    case GgmlType::kQ8_K:
      return true;
    default:
      return false;
  }
}

bool CanQuantize(GgmlType type) { return type != GgmlType::kQ8_K && CanDequantize(type); }

absl::Status QuantizeRow(GgmlType type, const float* src, void* dst, int64_t n) {
  if (!CanQuantize(type)) {
    return absl::InvalidArgumentError(fmt::format("cannot quantize to tensor type {}", GgmlTypeName(type)));
  }
  const auto info = GetGgmlTypeInfo(type);
  if (n % info->block_size != 0) {
    return absl::InvalidArgumentError(
        fmt::format("row of {} elements is not a multiple of the {} block size {}", n, info->name, info->block_size));
  }
  const int64_t nb = n / info->block_size;
  switch (type) {
    case GgmlType::kF32:
      std::memcpy(dst, src, static_cast<size_t>(n) * sizeof(float));
      break;
    case GgmlType::kF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = Fp32ToFp16(src[i]);
      break;
    }
    case GgmlType::kBF16: {
      auto* d = static_cast<uint16_t*>(dst);
      for (int64_t i = 0; i < n; ++i) d[i] = Fp32ToBf16(src[i]);
      break;
    }
    case GgmlType::kQ4_0:
      QuantQ4_0(src, static_cast<BlockQ4_0*>(dst), nb);
      break;
    case GgmlType::kQ4_1:
      QuantQ4_1(src, static_cast<BlockQ4_1*>(dst), nb);
      break;
    case GgmlType::kQ8_0:
      QuantQ8_0(src, static_cast<BlockQ8_0*>(dst), nb);
      break;
    case GgmlType::kQ2_K:
      internal::QuantQ2_K(src, static_cast<BlockQ2_K*>(dst), nb);
      break;
    case GgmlType::kQ3_K:
      internal::QuantQ3_K(src, static_cast<BlockQ3_K*>(dst), nb);
      break;
    case GgmlType::kQ4_K:
      internal::QuantQ4_K(src, static_cast<BlockQ4_K*>(dst), nb);
      break;
    case GgmlType::kQ5_K:
      internal::QuantQ5_K(src, static_cast<BlockQ5_K*>(dst), nb);
      break;
    case GgmlType::kQ6_K:
      internal::QuantQ6_K(src, static_cast<BlockQ6_K*>(dst), nb);
      break;
    case GgmlType::kIQ4_XS:
      internal::QuantIQ4_XS(src, static_cast<BlockIQ4_XS*>(dst), nb);
      break;
    default:
      break;
  }
  return absl::OkStatus();
}

}  // namespace aperture::engine
