#include "engine/kernels/matmul.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "engine/kernels/cpu_features.h"
#include "engine/kernels/fp16.h"
#include "engine/kernels/matmul_kernels.h"
#include "engine/kernels/quantize.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

bool HasInterleavedLayout(GgmlType type) {
  return type == GgmlType::kF32 || type == GgmlType::kQ8_0 || type == GgmlType::kQ4_0;
}

PackedFormat InterleavedFormat(GgmlType type) {
  switch (type) {
    case GgmlType::kF32:
      return PackedFormat::kF32x16;
    case GgmlType::kQ8_0:
      return PackedFormat::kQ8_0x16;
    case GgmlType::kQ4_0:
      return PackedFormat::kQ4_0x16;
    default:
      return PackedFormat::kRows;
  }
}

size_t GroupStride(PackedFormat format, int64_t cols) {
  switch (format) {
    case PackedFormat::kF32x16:
      return static_cast<size_t>(cols) * kRowGroup * sizeof(float);
    case PackedFormat::kQ8_0x16:
      return (static_cast<size_t>(cols / 32) * (512 + 32) + 63) & ~size_t{63};
    case PackedFormat::kQ4_0x16:
      return (static_cast<size_t>(cols / 32) * (256 + 32) + 63) & ~size_t{63};
    case PackedFormat::kRows:
      return 0;
  }
  return 0;
}

absl::Status CheckShape(GgmlType type, int64_t rows, int64_t cols) {
  auto info = GetGgmlTypeInfo(type);
  if (!info || !CanDequantize(type)) {
    return absl::InvalidArgumentError(
        fmt::format("tensor type {} is not supported by the engine (supported: f32, f16, bf16, q8_0, q4_0, "
                    "q4_1, q4_K, q5_K, q6_K)",
                    GgmlTypeName(type)));
  }
  if (rows <= 0 || cols <= 0 || cols % info->block_size != 0) {
    return absl::InvalidArgumentError(
        fmt::format("a {} matrix of {} x {} is invalid: columns must be a positive multiple of {}", info->name, rows,
                    cols, info->block_size));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<PackedMatrix> PackedMatrix::Create(GgmlType type, const void* data, int64_t rows, int64_t cols,
                                                  bool repack, const ReleaseFn& release) {
  if (absl::Status s = CheckShape(type, rows, cols); !s.ok()) return s;
  PackedMatrix m;
  m.type_ = type;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_bytes_ = RowBytes(type, cols);
  if (!repack || !HasInterleavedLayout(type)) {
    m.format_ = PackedFormat::kRows;
    m.base_ = static_cast<const unsigned char*>(data);
    return m;
  }
  m.format_ = InterleavedFormat(type);
  m.AllocateInterleaved();
  m.PackGroupRows(data, 0, rows, release);
  return m;
}

absl::StatusOr<PackedMatrix> PackedMatrix::Stack(GgmlType type, const void* const* parts, const int64_t* part_rows,
                                                 int n_parts, int64_t cols, const ReleaseFn& release) {
  int64_t total = 0;
  for (int i = 0; i < n_parts; ++i) total += part_rows[i];
  if (absl::Status s = CheckShape(type, total, cols); !s.ok()) return s;
  PackedMatrix m;
  m.rows_ = total;
  m.cols_ = cols;
  if (HasInterleavedLayout(type)) {
    m.type_ = type;
    m.format_ = InterleavedFormat(type);
    m.AllocateInterleaved();
    int64_t row0 = 0;
    for (int i = 0; i < n_parts; ++i) {
      m.PackGroupRows(parts[i], row0, part_rows[i], release);
      row0 += part_rows[i];
    }
    return m;
  }
  // No interleaved layout: concatenate the rows unchanged.
  m.type_ = type;
  m.format_ = PackedFormat::kRows;
  m.row_bytes_ = RowBytes(type, cols);
  m.owned_.Resize(m.row_bytes_ * static_cast<size_t>(total));
  m.base_ = m.owned_.data();
  size_t off = 0;
  for (int i = 0; i < n_parts; ++i) {
    const size_t n = m.row_bytes_ * static_cast<size_t>(part_rows[i]);
    std::memcpy(m.owned_.data() + off, parts[i], n);
    off += n;
  }
  return m;
}

// Every byte of full groups is written by packing; only the last group's
// missing rows need zeros.
void PackedMatrix::AllocateInterleaved() {
  group_stride_ = GroupStride(format_, cols_);
  owned_.ResizeUninitialized(group_stride_ * static_cast<size_t>(groups()));
  base_ = owned_.data();
  std::memset(owned_.data() + (groups() - 1) * group_stride_, 0, group_stride_);
}

// Writes rows [row0, row0 + nrows) of the interleaved layout from the file's rows.
void PackedMatrix::PackGroupRows(const void* data, int64_t row0, int64_t nrows, const ReleaseFn& release) {
  const size_t src_row_bytes = RowBytes(type_, cols_);
  const int64_t blocks = cols_ / 32;
  unsigned char* base = owned_.data();
  // Hand finished source ranges back about every 4 MiB.
  const int64_t release_rows = std::max<int64_t>(1, (int64_t{4} << 20) / static_cast<int64_t>(src_row_bytes));
  int64_t released = 0;
  for (int64_t i = 0; i < nrows; ++i) {
    if (release && i - released >= release_rows) {
      release(static_cast<const unsigned char*>(data) + released * src_row_bytes, (i - released) * src_row_bytes);
      released = i;
    }
    const int64_t row = row0 + i;
    const int64_t g = row / kRowGroup;
    const int r = static_cast<int>(row % kRowGroup);
    unsigned char* grp = base + g * group_stride_;
    const unsigned char* src = static_cast<const unsigned char*>(data) + i * src_row_bytes;
    switch (format_) {
      case PackedFormat::kF32x16: {
        const float* s = reinterpret_cast<const float*>(src);
        float* dst = reinterpret_cast<float*>(grp);
        for (int64_t k = 0; k < cols_; ++k) dst[k * kRowGroup + r] = s[k];
        break;
      }
      case PackedFormat::kQ8_0x16: {
        const auto* s = reinterpret_cast<const BlockQ8_0*>(src);
        uint16_t* scales = reinterpret_cast<uint16_t*>(grp + internal::Q8GroupScalesOffset(blocks));
        for (int64_t b = 0; b < blocks; ++b) {
          unsigned char* q = grp + b * 512;
          for (int c = 0; c < 8; ++c)
            for (int j = 0; j < 4; ++j) q[c * 64 + r * 4 + j] = static_cast<unsigned char>(s[b].qs[c * 4 + j] + 128);
          scales[b * kRowGroup + r] = s[b].d;
        }
        break;
      }
      case PackedFormat::kQ4_0x16: {
        const auto* s = reinterpret_cast<const BlockQ4_0*>(src);
        uint16_t* scales = reinterpret_cast<uint16_t*>(grp + internal::Q4GroupScalesOffset(blocks));
        for (int64_t b = 0; b < blocks; ++b) {
          unsigned char* q = grp + b * 256;
          for (int c = 0; c < 4; ++c) {
            for (int j = 0; j < 4; ++j) {
              // Element 4c+j is the low nibble of qs[4c+j]; element 16+4c+j its high nibble.
              q[c * 64 + r * 4 + j] = s[b].qs[c * 4 + j];
            }
          }
          scales[b * kRowGroup + r] = s[b].d;
        }
        break;
      }
      case PackedFormat::kRows:
        break;
    }
  }
  if (release && nrows > released) {
    release(static_cast<const unsigned char*>(data) + released * src_row_bytes, (nrows - released) * src_row_bytes);
  }
}

void PackedMatrix::GetRow(int64_t row, float* out) const {
  const int64_t g = row / kRowGroup;
  const int r = static_cast<int>(row % kRowGroup);
  const int64_t blocks = cols_ / 32;
  switch (format_) {
    case PackedFormat::kRows:
      DequantizeRow(type_, base_ + row * row_bytes_, out, cols_);
      return;
    case PackedFormat::kF32x16: {
      const float* src = reinterpret_cast<const float*>(group_data(g));
      for (int64_t k = 0; k < cols_; ++k) out[k] = src[k * kRowGroup + r];
      return;
    }
    case PackedFormat::kQ8_0x16: {
      const unsigned char* grp = group_data(g);
      const uint16_t* scales = reinterpret_cast<const uint16_t*>(grp + internal::Q8GroupScalesOffset(blocks));
      for (int64_t b = 0; b < blocks; ++b) {
        const float d = Fp16ToFp32(scales[b * kRowGroup + r]);
        for (int c = 0; c < 8; ++c)
          for (int j = 0; j < 4; ++j)
            out[b * 32 + c * 4 + j] = static_cast<float>(grp[b * 512 + c * 64 + r * 4 + j] - 128) * d;
      }
      return;
    }
    case PackedFormat::kQ4_0x16: {
      const unsigned char* grp = group_data(g);
      const uint16_t* scales = reinterpret_cast<const uint16_t*>(grp + internal::Q4GroupScalesOffset(blocks));
      for (int64_t b = 0; b < blocks; ++b) {
        const float d = Fp16ToFp32(scales[b * kRowGroup + r]);
        for (int c = 0; c < 4; ++c)
          for (int j = 0; j < 4; ++j) {
            const unsigned char v = grp[b * 256 + c * 64 + r * 4 + j];
            out[b * 32 + c * 4 + j] = static_cast<float>((v & 0xF) - 8) * d;
            out[b * 32 + 16 + c * 4 + j] = static_cast<float>((v >> 4) - 8) * d;
          }
      }
      return;
    }
  }
}

void Activations::Bind(const float* x, int m, int64_t k, int64_t ld, bool quantize) {
  x_ = x;
  m_ = m;
  k_ = k;
  ld_ = ld;
  quantized_ = quantize && k % 32 == 0;
  if (quantized_) {
    q_.Reserve(static_cast<size_t>(m) * k);
    d_.Reserve(static_cast<size_t>(m) * (k / 32) * sizeof(float));
    s_.Reserve(static_cast<size_t>(m) * (k / 32) * sizeof(int32_t));
  }
}

void Activations::QuantizeRows(int row_begin, int row_end) {
  if (!quantized_) return;
  auto fn = internal::QuantizeActRow_Scalar;
  switch (ActiveIsa()) {
    case Isa::kAvx512:
      fn = internal::QuantizeActRow_Avx512;
      break;
    case Isa::kAvx2:
      fn = internal::QuantizeActRow_Avx2;
      break;
    case Isa::kScalar:
      break;
  }
  // Quantize a row contiguously, then scatter its blocks to the block-major layout.
  thread_local AlignedBuffer tq, td, ts;
  const int64_t blocks = k_ / 32;
  tq.Reserve(static_cast<size_t>(k_));
  td.Reserve(static_cast<size_t>(blocks) * sizeof(float));
  ts.Reserve(static_cast<size_t>(blocks) * sizeof(int32_t));
  for (int row = row_begin; row < row_end; ++row) {
    fn(x_ + row * ld_, k_, tq.as<int8_t>(), td.as<float>(), ts.as<int32_t>());
    for (int64_t b = 0; b < blocks; ++b) {
      std::memcpy(q_.as<int8_t>() + (b * m_ + row) * 32, tq.as<int8_t>() + b * 32, 32);
      d_.as<float>()[b * m_ + row] = td.as<float>()[b];
      s_.as<int32_t>()[b * m_ + row] = ts.as<int32_t>()[b];
    }
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

}  // namespace

void MatMulGroups(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t group_begin,
                  int64_t group_end) {
  if (group_begin >= group_end || x.m() == 0) return;
  const Isa isa = ActiveIsa();
  switch (w.format()) {
    case PackedFormat::kRows:
      return MatMulRowsGeneric(w, x, y, ldy, group_begin, group_end);
    case PackedFormat::kF32x16:
      if (isa == Isa::kAvx512) return internal::MatMulF32x16_Avx512(w, x, y, ldy, group_begin, group_end);
      if (isa == Isa::kAvx2) return internal::MatMulF32x16_Avx2(w, x, y, ldy, group_begin, group_end);
      return internal::MatMulF32x16_Scalar(w, x, y, ldy, group_begin, group_end);
    case PackedFormat::kQ8_0x16:
      if (isa == Isa::kAvx512) return internal::MatMulQ8x16_Avx512(w, x, y, ldy, group_begin, group_end);
      if (isa == Isa::kAvx2) return internal::MatMulQ8x16_Avx2(w, x, y, ldy, group_begin, group_end);
      return internal::MatMulQ8x16_Scalar(w, x, y, ldy, group_begin, group_end);
    case PackedFormat::kQ4_0x16:
      if (isa == Isa::kAvx512) return internal::MatMulQ4x16_Avx512(w, x, y, ldy, group_begin, group_end);
      if (isa == Isa::kAvx2) return internal::MatMulQ4x16_Avx2(w, x, y, ldy, group_begin, group_end);
      return internal::MatMulQ4x16_Scalar(w, x, y, ldy, group_begin, group_end);
  }
}

}  // namespace aperture::engine
