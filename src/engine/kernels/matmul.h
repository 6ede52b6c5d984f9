// Weight matrices in kernel-friendly layouts and the matrix products of the
// forward pass: Y[m][n] = sum_k X[m][k] * W[n][k] for M activation rows.
//
// F32, Q8_0 and Q4_0 weights are repacked at load into groups of 16 rows
// whose values are interleaved so that one 64-byte load feeds 16 outputs
// (no horizontal sums, 64-byte aligned). Q8_0/Q4_0 products quantize the
// activations to 8 bits per 32-element block and use integer dot products,
// as llama.cpp does. Other types keep the file's blocks and are dequantized
// a row at a time.
//
// Every output element is reduced in the same order whatever the ISA path,
// the number of rows M and the thread split, so results do not depend on the
// thread count or on which sequences share a batch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "engine/kernels/aligned_buffer.h"
#include "engine/kernels/quant_blocks.h"

namespace aperture::engine {

inline constexpr int kRowGroup = 16;

enum class PackedFormat {
  kF32x16,   // [group][k][16] floats
  kQ8_0x16,  // [group]{ quants [block][8 chunks][16 rows][4] (w+128); scales [block][16] f16 }
  kQ4_0x16,  // [group]{ quants [block][4 chunks][16 rows][4] nibbles; scales [block][16] f16 }
  kRows,     // the file's rows, unchanged
};

// An immutable weight matrix of `rows` x `cols`. Thread-safe after creation.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  PackedMatrix(PackedMatrix&&) = default;
  PackedMatrix& operator=(PackedMatrix&&) = default;

  // Builds a matrix from `rows` rows of `cols` elements of `type` at `data`.
  // With repack, F32/Q8_0/Q4_0 are copied into the interleaved layouts;
  // otherwise (or for other types) `data` is referenced and must outlive the
  // matrix. Fails when cols is not a multiple of the type's block size.
  // While repacking, `release` (when set) is told of each source range it
  // has finished with, so the caller can drop those file pages early.
  using ReleaseFn = std::function<void(const void* data, size_t bytes)>;
  static absl::StatusOr<PackedMatrix> Create(GgmlType type, const void* data, int64_t rows, int64_t cols, bool repack,
                                             const ReleaseFn& release = nullptr);

  // Stacks several matrices with the same cols and type into one (rows
  // concatenated), repacked; used to fuse Q/K/V and gate/up projections.
  // Types without an interleaved layout are dequantized to F32.
  static absl::StatusOr<PackedMatrix> Stack(GgmlType type, const void* const* parts, const int64_t* part_rows,
                                            int n_parts, int64_t cols, const ReleaseFn& release = nullptr);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t groups() const { return (rows_ + kRowGroup - 1) / kRowGroup; }
  PackedFormat format() const { return format_; }
  GgmlType type() const { return type_; }
  bool needs_q8_activations() const { return format_ == PackedFormat::kQ8_0x16 || format_ == PackedFormat::kQ4_0x16; }
  size_t bytes() const { return owned_.size(); }

  // Dequantizes row r into out[0..cols).
  void GetRow(int64_t r, float* out) const;

  // Layout access for kernels.
  const unsigned char* group_data(int64_t g) const { return base_ + g * group_stride_; }
  const unsigned char* row_data(int64_t r) const { return base_ + r * row_bytes_; }
  size_t row_bytes() const { return row_bytes_; }

 private:
  void PackGroupRows(const void* data, int64_t row0, int64_t nrows, const ReleaseFn& release);
  void AllocateInterleaved();

  GgmlType type_ = GgmlType::kF32;
  PackedFormat format_ = PackedFormat::kRows;
  int64_t rows_ = 0;
  int64_t cols_ = 0;
  size_t group_stride_ = 0;  // interleaved formats
  size_t row_bytes_ = 0;     // kRows
  AlignedBuffer owned_;
  const unsigned char* base_ = nullptr;
};

// M activation rows of K floats, plus (when a Q8_0/Q4_0 matrix will consume
// them) their 8-bit quantization: per 32-element block the quants, a float
// scale d and the sum of the quants, stored block-major ([block][row]) so a
// kernel reaches the same block of consecutive rows at constant offsets.
// Prepared once, read by all threads. Not thread-safe while being prepared.
class Activations {
 public:
  // Points at x (M rows, row stride ld floats); quantizes rows [row_begin,
  // row_end) when `quantize` (call for disjoint row ranges from several
  // threads after Bind).
  void Bind(const float* x, int m, int64_t k, int64_t ld, bool quantize);
  void QuantizeRows(int row_begin, int row_end);

  const float* f32() const { return x_; }
  int m() const { return m_; }
  int64_t k() const { return k_; }
  int64_t ld() const { return ld_; }
  bool quantized() const { return quantized_; }
  // The 32 quants of block b of row `row`; rows of a block are 32 bytes apart.
  const int8_t* q(int64_t b, int row) const { return q_.as<int8_t>() + (b * m_ + row) * 32; }
  // Scale and quant sum of block b of row `row`; rows of a block are adjacent.
  const float* d(int64_t b, int row) const { return d_.as<float>() + b * m_ + row; }
  const int32_t* s(int64_t b, int row) const { return s_.as<int32_t>() + b * m_ + row; }

 private:
  const float* x_ = nullptr;
  int m_ = 0;
  int64_t k_ = 0;
  int64_t ld_ = 0;
  bool quantized_ = false;
  AlignedBuffer q_, d_, s_;
};

// y[m][n] for n in row groups [group_begin, group_end); y has row stride ldy.
// Rows past w.rows() in the last group are not written. Uses ActiveIsa().
void MatMulGroups(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t group_begin,
                  int64_t group_end);

}  // namespace aperture::engine
