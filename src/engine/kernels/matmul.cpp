// Activations (the forms of the activations the kernels read) and the
// dispatch of MatMulGroups to each layout's kernel for the active ISA.
#include "engine/kernels/matmul.h"

#include <algorithm>
#include <cstring>

#include "engine/kernels/cpu_features.h"
#include "engine/kernels/matmul_kernels.h"

namespace aperture::engine {

void Activations::Bind(const float* x, int m, int64_t k, int64_t ld, unsigned forms) {
  x_ = x;
  m_ = m;
  k_ = k;
  ld_ = ld;
  forms_ = 0;
  if ((forms & kActivationsQ8) != 0 && k % 32 == 0) {
    forms_ |= kActivationsQ8;
    q_.Reserve(static_cast<size_t>(m) * k);
    d_.Reserve(static_cast<size_t>(m) * (k / 32) * sizeof(float));
    s_.Reserve(static_cast<size_t>(m) * (k / 32) * sizeof(int32_t));
  }
  if ((forms & kActivationsQ8K) != 0 && k % kQKK == 0) {
    forms_ |= kActivationsQ8K;
    kq_.Reserve(static_cast<size_t>(m) * k);
    kd_.Reserve(static_cast<size_t>(m) * (k / kQKK) * sizeof(float));
    ks_.Reserve(static_cast<size_t>(m) * (k / 16) * sizeof(int16_t));
  }
  if ((forms & kActivationsBf16) != 0) {
    forms_ |= kActivationsBf16;
    bf_.Reserve(static_cast<size_t>(m) * k * sizeof(uint16_t));
  }
}

void Activations::QuantizeRows(int row_begin, int row_end) {
  if (forms_ == 0) return;
  auto q8 = internal::QuantizeActRow_Scalar;
  auto q8k = internal::QuantizeActRowK_Scalar;
  auto bf16 = internal::RoundActRowBf16_Scalar;
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      q8 = internal::QuantizeActRow_Avx512;
      q8k = internal::QuantizeActRowK_Avx512;
      bf16 = internal::RoundActRowBf16_Avx512;
      break;
    case Isa::kAvx2:
      q8 = internal::QuantizeActRow_Avx2;
      q8k = internal::QuantizeActRowK_Avx2;
      bf16 = internal::RoundActRowBf16_Avx2;
      break;
    case Isa::kScalar:
      break;
  }
  // Quantize a row contiguously, then scatter its blocks to the block-major layout.
  thread_local AlignedBuffer tq, td, ts;
  tq.Reserve(static_cast<size_t>(k_));
  td.Reserve(static_cast<size_t>(k_ / 32) * sizeof(float));
  ts.Reserve(static_cast<size_t>(k_ / 16) * sizeof(int32_t));
  for (int row = row_begin; row < row_end; ++row) {
    const float* xr = x_ + row * ld_;
    if ((forms_ & kActivationsQ8) != 0) {
      q8(xr, k_, tq.as<int8_t>(), td.as<float>(), ts.as<int32_t>());
      for (int64_t b = 0; b < k_ / 32; ++b) {
        std::memcpy(q_.as<int8_t>() + (b * m_ + row) * 32, tq.as<int8_t>() + b * 32, 32);
        d_.as<float>()[b * m_ + row] = td.as<float>()[b];
        s_.as<int32_t>()[b * m_ + row] = ts.as<int32_t>()[b];
      }
    }
    if ((forms_ & kActivationsQ8K) != 0) {
      q8k(xr, k_, tq.as<int8_t>(), td.as<float>(), ts.as<int16_t>());
      for (int64_t b = 0; b < k_ / kQKK; ++b) {
        std::memcpy(kq_.as<int8_t>() + (b * m_ + row) * kQKK, tq.as<int8_t>() + b * kQKK, kQKK);
        kd_.as<float>()[b * m_ + row] = td.as<float>()[b];
        std::memcpy(ks_.as<int16_t>() + (b * m_ + row) * 16, ts.as<int16_t>() + b * 16, 16 * sizeof(int16_t));
      }
    }
    if ((forms_ & kActivationsBf16) != 0) bf16(xr, k_, bf_.as<uint16_t>() + static_cast<int64_t>(row) * k_);
  }
}

namespace {

void MatMulRowsGeneric(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t g0, int64_t g1) {
  thread_local AlignedBuffer row_buf;
  row_buf.Reserve(static_cast<size_t>(w.cols()) * sizeof(float));
  float* row = row_buf.as<float>();
  auto dot = internal::DotF32_Scalar;
  switch (ActiveIsa()) {
    case Isa::kAvx512:
    case Isa::kAvx512Bf16:
      dot = internal::DotF32_Avx512;
      break;
    case Isa::kAvx2:
      dot = internal::DotF32_Avx2;
      break;
    case Isa::kScalar:
      break;
  }
  const int64_t n_end = std::min(w.rows(), g1 * kRowGroup);
  for (int64_t n = g0 * kRowGroup; n < n_end; ++n) {
    w.GetRow(n, row);
    for (int m = 0; m < x.m(); ++m) y[m * ldy + n] = dot(row, x.f32() + m * x.ld(), w.cols());
  }
}

// The kernel of `format` for `isa` (the generic row path for kRows).
using Kernel = void (*)(const PackedMatrix&, const Activations&, float*, int64_t, int64_t, int64_t);

#define APERTURE_KERNEL_FOR(name)             \
  switch (isa) {                              \
    case Isa::kAvx512:                        \
    case Isa::kAvx512Bf16:                    \
      return internal::MatMul##name##_Avx512; \
    case Isa::kAvx2:                          \
      return internal::MatMul##name##_Avx2;   \
    case Isa::kScalar:                        \
      return internal::MatMul##name##_Scalar; \
  }                                           \
  return internal::MatMul##name##_Scalar

Kernel KernelFor(PackedFormat format, Isa isa) {
  switch (format) {
    case PackedFormat::kRows:
      return MatMulRowsGeneric;
    case PackedFormat::kF32x16:
      APERTURE_KERNEL_FOR(F32x16);
    case PackedFormat::kF16x16:
      APERTURE_KERNEL_FOR(F16x16);
    case PackedFormat::kBF16x16:
      if (isa == Isa::kAvx512Bf16) return internal::MatMulBF16x16_Avx512Bf16;
      APERTURE_KERNEL_FOR(BF16x16);
    case PackedFormat::kQ8_0x16:
      APERTURE_KERNEL_FOR(Q8x16);
    case PackedFormat::kQ4_0x16:
      APERTURE_KERNEL_FOR(Q4x16);
    case PackedFormat::kQ4_Kx16:
      APERTURE_KERNEL_FOR(Q4Kx16);
    case PackedFormat::kQ5_Kx16:
      APERTURE_KERNEL_FOR(Q5Kx16);
    case PackedFormat::kQ6_Kx16:
      APERTURE_KERNEL_FOR(Q6Kx16);
  }
  return MatMulRowsGeneric;
}

#undef APERTURE_KERNEL_FOR

}  // namespace

void MatMulGroups(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t group_begin,
                  int64_t group_end) {
  if (group_begin >= group_end || x.m() == 0) return;
  KernelFor(w.format(), ActiveIsa())(w, x, y, ldy, group_begin, group_end);
}

}  // namespace aperture::engine
