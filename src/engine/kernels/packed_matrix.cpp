// PackedMatrix: building the interleaved layouts of matmul.h from a file's
// rows (the offsets are in matmul_kernels.h) and reading rows back.
#include <algorithm>
#include <cstring>
#include <string>

#include "engine/kernels/fp16.h"
#include "engine/kernels/matmul.h"
#include "engine/kernels/matmul_kernels.h"
#include "engine/kernels/quantize.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

using internal::kQ4KBlockBytes;
using internal::kQ5KBlockBytes;
using internal::kQ6KBlockBytes;

PackedFormat InterleavedFormat(GgmlType type, int64_t cols) {
  switch (type) {
    case GgmlType::kF32:
      return PackedFormat::kF32x16;
    case GgmlType::kF16:
      return PackedFormat::kF16x16;
    case GgmlType::kBF16:
      return cols % 2 == 0 ? PackedFormat::kBF16x16 : PackedFormat::kRows;
    case GgmlType::kQ8_0:
      return PackedFormat::kQ8_0x16;
    case GgmlType::kQ4_0:
      return PackedFormat::kQ4_0x16;
    case GgmlType::kQ4_K:
      return PackedFormat::kQ4_Kx16;
    case GgmlType::kQ5_K:
      return PackedFormat::kQ5_Kx16;
    case GgmlType::kQ6_K:
      return PackedFormat::kQ6_Kx16;
    default:
      return PackedFormat::kRows;
  }
}

size_t RoundUp64(size_t n) { return (n + 63) & ~size_t{63}; }

size_t GroupStride(PackedFormat format, int64_t cols) {
  const size_t k = static_cast<size_t>(cols);
  switch (format) {
    case PackedFormat::kF32x16:
      return k * kRowGroup * sizeof(float);
    case PackedFormat::kF16x16:
    case PackedFormat::kBF16x16:
      return RoundUp64(k * kRowGroup * sizeof(uint16_t));
    case PackedFormat::kQ8_0x16:
      return RoundUp64(k / 32 * (512 + 32));
    case PackedFormat::kQ4_0x16:
      return RoundUp64(k / 32 * (256 + 32));
    case PackedFormat::kQ4_Kx16:
      return k / kQKK * kQ4KBlockBytes;
    case PackedFormat::kQ5_Kx16:
      return k / kQKK * kQ5KBlockBytes;
    case PackedFormat::kQ6_Kx16:
      return RoundUp64(k / kQKK * (kQ6KBlockBytes + kRowGroup * sizeof(uint16_t)));
    case PackedFormat::kRows:
      return 0;
  }
  return 0;
}

absl::Status CheckShape(GgmlType type, int64_t rows, int64_t cols) {
  auto info = GetGgmlTypeInfo(type);
  if (!info || !CanDequantize(type) || type == GgmlType::kQ8_K) {
    return absl::InvalidArgumentError(
        fmt::format("tensor type {} is not supported by the engine (supported: f32, f16, bf16, q8_0, q4_0, "
                    "q4_1, q2_K, q3_K, q4_K, q5_K, q6_K, iq4_xs)",
                    GgmlTypeName(type)));
  }
  if (rows <= 0 || cols <= 0 || cols % info->block_size != 0) {
    return absl::InvalidArgumentError(
        fmt::format("a {} matrix of {} x {} is invalid: columns must be a positive multiple of {}", info->name, rows,
                    cols, info->block_size));
  }
  return absl::OkStatus();
}

// Rearranges the 12 scale bytes, d and dmin of a Q4_K/Q5_K super-block
// (shared by both layouts; `base` is the group's super-block).
void PackScalesK(const uint8_t* scales, uint16_t d, uint16_t dmin, int r, unsigned char* base, int64_t scales_at,
                 int64_t d_at, int64_t dmin_at) {
  for (int w = 0; w < 3; ++w)
    for (int t = 0; t < 4; ++t) base[scales_at + w * 64 + r * 4 + t] = scales[4 * w + t];
  std::memcpy(base + d_at + 2 * r, &d, 2);
  std::memcpy(base + dmin_at + 2 * r, &dmin, 2);
}

void UnpackScalesK(const unsigned char* base, int r, int64_t scales_at, int64_t d_at, int64_t dmin_at, uint8_t* scales,
                   uint16_t* d, uint16_t* dmin) {
  for (int w = 0; w < 3; ++w)
    for (int t = 0; t < 4; ++t) scales[4 * w + t] = base[scales_at + w * 64 + r * 4 + t];
  std::memcpy(d, base + d_at + 2 * r, 2);
  std::memcpy(dmin, base + dmin_at + 2 * r, 2);
}

// Row r of a group from its file row `src` (`blocks` super-blocks).
void PackQ4KRow(const BlockQ4_K* src, int64_t blocks, int r, unsigned char* grp) {
  for (int64_t b = 0; b < blocks; ++b) {
    unsigned char* base = grp + b * kQ4KBlockBytes;
    for (int p = 0; p < 4; ++p)
      for (int c = 0; c < 8; ++c) std::memcpy(base + p * 512 + c * 64 + r * 4, src[b].qs + 32 * p + 4 * c, 4);
    PackScalesK(src[b].scales, src[b].d, src[b].dmin, r, base, internal::kQ4KScalesOffset, internal::kQ4KDOffset,
                internal::kQ4KDminOffset);
  }
}

void PackQ5KRow(const BlockQ5_K* src, int64_t blocks, int r, unsigned char* grp) {
  for (int64_t b = 0; b < blocks; ++b) {
    unsigned char* base = grp + b * kQ5KBlockBytes;
    for (int p = 0; p < 4; ++p)
      for (int c = 0; c < 8; ++c) std::memcpy(base + p * 512 + c * 64 + r * 4, src[b].qs + 32 * p + 4 * c, 4);
    for (int c = 0; c < 8; ++c) std::memcpy(base + internal::kQ5KHighOffset + c * 64 + r * 4, src[b].qh + 4 * c, 4);
    PackScalesK(src[b].scales, src[b].d, src[b].dmin, r, base, internal::kQ5KScalesOffset, internal::kQ5KDOffset,
                internal::kQ5KDminOffset);
  }
}

void PackQ6KRow(const BlockQ6_K* src, int64_t blocks, int r, unsigned char* grp) {
  for (int64_t b = 0; b < blocks; ++b) {
    unsigned char* base = grp + b * kQ6KBlockBytes;
    for (int n = 0; n < 2; ++n) {
      for (int c = 0; c < 8; ++c) {
        for (int part = 0; part < 2; ++part)
          std::memcpy(base + internal::Q6KLowOffset(n, part, c) + r * 4, src[b].ql + 64 * n + 32 * part + 4 * c, 4);
        std::memcpy(base + internal::Q6KHighOffset(n, c) + r * 4, src[b].qh + 32 * n + 4 * c, 4);
      }
    }
    for (int s = 0; s < 16; ++s) base[internal::Q6KScaleOffset(s) + r] = src[b].scales[s];
    std::memcpy(grp + internal::Q6KDOffset(blocks) + (b * kRowGroup + r) * 2, &src[b].d, 2);
  }
}

// The inverse of the Pack*Row functions: the file's block b of row r.
void UnpackQ4KBlock(const unsigned char* grp, int64_t b, int r, BlockQ4_K* out) {
  const unsigned char* base = grp + b * kQ4KBlockBytes;
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 8; ++c) std::memcpy(out->qs + 32 * p + 4 * c, base + p * 512 + c * 64 + r * 4, 4);
  UnpackScalesK(base, r, internal::kQ4KScalesOffset, internal::kQ4KDOffset, internal::kQ4KDminOffset, out->scales,
                &out->d, &out->dmin);
}

void UnpackQ5KBlock(const unsigned char* grp, int64_t b, int r, BlockQ5_K* out) {
  const unsigned char* base = grp + b * kQ5KBlockBytes;
  for (int p = 0; p < 4; ++p)
    for (int c = 0; c < 8; ++c) std::memcpy(out->qs + 32 * p + 4 * c, base + p * 512 + c * 64 + r * 4, 4);
  for (int c = 0; c < 8; ++c) std::memcpy(out->qh + 4 * c, base + internal::kQ5KHighOffset + c * 64 + r * 4, 4);
  UnpackScalesK(base, r, internal::kQ5KScalesOffset, internal::kQ5KDOffset, internal::kQ5KDminOffset, out->scales,
                &out->d, &out->dmin);
}

void UnpackQ6KBlock(const unsigned char* grp, int64_t blocks, int64_t b, int r, BlockQ6_K* out) {
  const unsigned char* base = grp + b * kQ6KBlockBytes;
  for (int n = 0; n < 2; ++n) {
    for (int c = 0; c < 8; ++c) {
      for (int part = 0; part < 2; ++part)
        std::memcpy(out->ql + 64 * n + 32 * part + 4 * c, base + internal::Q6KLowOffset(n, part, c) + r * 4, 4);
      std::memcpy(out->qh + 32 * n + 4 * c, base + internal::Q6KHighOffset(n, c) + r * 4, 4);
    }
  }
  for (int s = 0; s < 16; ++s) out->scales[s] = static_cast<int8_t>(base[internal::Q6KScaleOffset(s) + r]);
  std::memcpy(&out->d, grp + internal::Q6KDOffset(blocks) + (b * kRowGroup + r) * 2, 2);
}

// vdpbf16ps reads subnormal inputs as zero; the packed weights hold them as
// zero so that every ISA path computes the same.
uint16_t FlushSubnormalBf16(uint16_t h) { return (h & 0x7F80) == 0 ? static_cast<uint16_t>(h & 0x8000) : h; }

}  // namespace

bool HasInterleavedLayout(GgmlType type, int64_t cols) { return InterleavedFormat(type, cols) != PackedFormat::kRows; }

unsigned PackedMatrix::activation_forms() const {
  switch (format_) {
    case PackedFormat::kQ8_0x16:
    case PackedFormat::kQ4_0x16:
      return kActivationsQ8;
    case PackedFormat::kQ4_Kx16:
    case PackedFormat::kQ5_Kx16:
    case PackedFormat::kQ6_Kx16:
      return kActivationsQ8K;
    case PackedFormat::kBF16x16:
      return kActivationsBf16;
    case PackedFormat::kF32x16:
    case PackedFormat::kF16x16:
    case PackedFormat::kRows:
      return kActivationsF32;
  }
  return kActivationsF32;
}

absl::StatusOr<PackedMatrix> PackedMatrix::Create(GgmlType type, const void* data, int64_t rows, int64_t cols,
                                                  bool repack, const ReleaseFn& release) {
  if (absl::Status s = CheckShape(type, rows, cols); !s.ok()) return s;
  PackedMatrix m;
  m.type_ = type;
  m.rows_ = rows;
  m.cols_ = cols;
  m.row_bytes_ = RowBytes(type, cols);
  if (!repack || !HasInterleavedLayout(type, cols)) {
    m.format_ = PackedFormat::kRows;
    m.base_ = static_cast<const unsigned char*>(data);
    return m;
  }
  m.format_ = InterleavedFormat(type, cols);
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
  m.type_ = type;
  m.rows_ = total;
  m.cols_ = cols;
  m.row_bytes_ = RowBytes(type, cols);
  if (HasInterleavedLayout(type, cols)) {
    m.format_ = InterleavedFormat(type, cols);
    m.AllocateInterleaved();
    int64_t row0 = 0;
    for (int i = 0; i < n_parts; ++i) {
      m.PackGroupRows(parts[i], row0, part_rows[i], release);
      row0 += part_rows[i];
    }
    return m;
  }
  // No interleaved layout: concatenate the rows unchanged.
  m.format_ = PackedFormat::kRows;
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

// Every byte the kernels read of full groups is written by packing; only the
// last group's missing rows need zeros.
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
  const int64_t super_blocks = cols_ / kQKK;
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
      case PackedFormat::kF16x16: {
        uint16_t* dst = reinterpret_cast<uint16_t*>(grp);
        for (int64_t k = 0; k < cols_; ++k) std::memcpy(dst + k * kRowGroup + r, src + 2 * k, 2);
        break;
      }
      case PackedFormat::kBF16x16: {
        uint16_t* dst = reinterpret_cast<uint16_t*>(grp);
        for (int64_t k = 0; k < cols_; ++k) {
          uint16_t h;
          std::memcpy(&h, src + 2 * k, 2);
          dst[(k / 2) * 2 * kRowGroup + r * 2 + k % 2] = FlushSubnormalBf16(h);
        }
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
      case PackedFormat::kQ4_Kx16:
        PackQ4KRow(reinterpret_cast<const BlockQ4_K*>(src), super_blocks, r, grp);
        break;
      case PackedFormat::kQ5_Kx16:
        PackQ5KRow(reinterpret_cast<const BlockQ5_K*>(src), super_blocks, r, grp);
        break;
      case PackedFormat::kQ6_Kx16:
        PackQ6KRow(reinterpret_cast<const BlockQ6_K*>(src), super_blocks, r, grp);
        break;
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
  const int64_t super_blocks = cols_ / kQKK;
  const unsigned char* grp = format_ == PackedFormat::kRows ? nullptr : group_data(g);
  switch (format_) {
    case PackedFormat::kRows:
      DequantizeRow(type_, base_ + row * row_bytes_, out, cols_);
      return;
    case PackedFormat::kF32x16: {
      const float* src = reinterpret_cast<const float*>(grp);
      for (int64_t k = 0; k < cols_; ++k) out[k] = src[k * kRowGroup + r];
      return;
    }
    case PackedFormat::kF16x16: {
      const uint16_t* src = reinterpret_cast<const uint16_t*>(grp);
      for (int64_t k = 0; k < cols_; ++k) out[k] = Fp16ToFp32(src[k * kRowGroup + r]);
      return;
    }
    case PackedFormat::kBF16x16: {
      const uint16_t* src = reinterpret_cast<const uint16_t*>(grp);
      for (int64_t k = 0; k < cols_; ++k) out[k] = Bf16ToFp32(src[(k / 2) * 2 * kRowGroup + r * 2 + k % 2]);
      return;
    }
    case PackedFormat::kQ8_0x16: {
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
    case PackedFormat::kQ4_Kx16:
      for (int64_t b = 0; b < super_blocks; ++b) {
        BlockQ4_K blk;
        UnpackQ4KBlock(grp, b, r, &blk);
        DequantizeRow(GgmlType::kQ4_K, &blk, out + b * kQKK, kQKK);
      }
      return;
    case PackedFormat::kQ5_Kx16:
      for (int64_t b = 0; b < super_blocks; ++b) {
        BlockQ5_K blk;
        UnpackQ5KBlock(grp, b, r, &blk);
        DequantizeRow(GgmlType::kQ5_K, &blk, out + b * kQKK, kQKK);
      }
      return;
    case PackedFormat::kQ6_Kx16:
      for (int64_t b = 0; b < super_blocks; ++b) {
        BlockQ6_K blk;
        UnpackQ6KBlock(grp, super_blocks, b, r, &blk);
        DequantizeRow(GgmlType::kQ6_K, &blk, out + b * kQKK, kQKK);
      }
      return;
  }
}

}  // namespace aperture::engine
