// Weight matrices in kernel-friendly layouts and the matrix products of the
// forward pass: Y[m][n] = sum_k X[m][k] * W[n][k] for M activation rows.
//
// Weights of the types people run (F32, F16, BF16, Q8_0, Q4_0, Q4_K, Q5_K,
// Q6_K) are repacked at load into groups of 16 rows whose values are
// interleaved, so one 64-byte load feeds 16 outputs (no horizontal sums,
// 64-byte aligned); each layout takes the file's bytes and no more (up to 63
// bytes per group). The integer types multiply against activations quantized
// to 8 bits: per 32-element block for Q8_0/Q4_0, per 256-element super-block
// with 16-element sums for the K-quants (as GGUF's Q8_K). F16 converts to
// float exactly; BF16 multiplies pairs against activations rounded to
// bfloat16 (AVX512_BF16's vdpbf16ps where present, the same arithmetic
// elsewhere). Other types (Q2_K, Q3_K, IQ4_XS, Q4_1) keep the file's blocks
// and are dequantized a row at a time.
//
// Every output element is reduced in the same order whatever the ISA path,
// the number of rows M and the thread split, so results do not depend on the
// thread count or on which sequences share a batch. (BF16: except when a
// running sum passes below 2^-126, which vdpbf16ps flushes to zero.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"
#include "engine/kernels/aligned_buffer.h"
#include "engine/kernels/quant_blocks.h"

namespace aperture::engine {

inline constexpr int kRowGroup = 16;

// The layouts; matmul_kernels.h has the byte offsets within a group.
enum class PackedFormat {
  kF32x16,   // [group][k][16] floats
  kF16x16,   // [group][k][16] halves
  kBF16x16,  // [group][k / 2][16 rows][2] bfloat16 (pairs of consecutive k)
  kQ8_0x16,  // [group]{ quants [block][8 chunks][16 rows][4] (w+128); scales [block][16] f16 }
  kQ4_0x16,  // [group]{ quants [block][4 chunks][16 rows][4] nibbles; scales [block][16] f16 }
  kQ4_Kx16,  // [group][super-block]{ nibbles, 6-bit scales and mins, d, dmin }
  kQ5_Kx16,  // [group][super-block]{ nibbles, fifth bits, 6-bit scales and mins, d, dmin }
  kQ6_Kx16,  // [group]{ [super-block]{ low nibbles, high bit pairs, int8 scales }; d [super-block][16] }
  kRows,     // the file's rows, unchanged
};

// The forms of the activations a matrix's kernel reads (bit set).
enum ActivationForm : unsigned {
  kActivationsF32 = 0,   // the floats themselves (always available)
  kActivationsQ8 = 1,    // 8 bits per 32-element block (Q8_0, Q4_0)
  kActivationsQ8K = 2,   // 8 bits per 256-element super-block with 16-element sums (K-quants)
  kActivationsBf16 = 4,  // rounded to bfloat16 (BF16)
};

// An immutable weight matrix of `rows` x `cols`. Thread-safe after creation.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  PackedMatrix(PackedMatrix&&) = default;
  PackedMatrix& operator=(PackedMatrix&&) = default;

  // Builds a matrix from `rows` rows of `cols` elements of `type` at `data`.
  // With repack, types with an interleaved layout are copied into it;
  // otherwise (or for other types) `data` is referenced and must outlive the
  // matrix. Fails when cols is not a multiple of the type's block size.
  // While repacking, `release` (when set) is told of each source range it
  // has finished with, so the caller can drop those file pages early.
  using ReleaseFn = std::function<void(const void* data, size_t bytes)>;
  static absl::StatusOr<PackedMatrix> Create(GgmlType type, const void* data, int64_t rows, int64_t cols, bool repack,
                                             const ReleaseFn& release = nullptr);

  // Stacks several matrices with the same cols and type into one (rows
  // concatenated), repacked; used to fuse Q/K/V and gate/up projections.
  // Types without an interleaved layout are concatenated as they are.
  static absl::StatusOr<PackedMatrix> Stack(GgmlType type, const void* const* parts, const int64_t* part_rows,
                                            int n_parts, int64_t cols, const ReleaseFn& release = nullptr);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t groups() const { return (rows_ + kRowGroup - 1) / kRowGroup; }
  PackedFormat format() const { return format_; }
  GgmlType type() const { return type_; }
  // ActivationForm bits the kernel of this layout reads.
  unsigned activation_forms() const;
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

// Whether a `type` matrix of `cols` columns has an interleaved layout
// (PackedMatrix::Create repacks it; Stack fuses such matrices).
bool HasInterleavedLayout(GgmlType type, int64_t cols);

// M activation rows of K floats, plus the other forms the matrices that will
// consume them read (ActivationForm): their 8-bit quantization per 32-element
// block (quants, a float scale d and the sum of the quants) and per
// 256-element super-block (quants, d and the sums of each 16), stored
// block-major ([block][row]) so a kernel reaches the same block of
// consecutive rows at constant offsets; and their bfloat16 rounding
// (row-major). Prepared once, read by all threads. Not thread-safe while
// being prepared.
class Activations {
 public:
  // Points at x (M rows, row stride ld floats) and sizes the `forms`
  // (ActivationForm bits; a form whose block K is not a multiple of is left
  // out); QuantizeRows prepares them for rows [row_begin, row_end) (call for
  // disjoint row ranges from several threads after Bind).
  void Bind(const float* x, int m, int64_t k, int64_t ld, unsigned forms);
  void QuantizeRows(int row_begin, int row_end);

  const float* f32() const { return x_; }
  int m() const { return m_; }
  int64_t k() const { return k_; }
  int64_t ld() const { return ld_; }
  // Whether QuantizeRows has anything to prepare.
  bool quantized() const { return forms_ != 0; }
  unsigned forms() const { return forms_; }
  // The 32 quants of block b of row `row`; rows of a block are 32 bytes apart.
  const int8_t* q(int64_t b, int row) const { return q_.as<int8_t>() + (b * m_ + row) * 32; }
  // Scale and quant sum of block b of row `row`; rows of a block are adjacent.
  const float* d(int64_t b, int row) const { return d_.as<float>() + b * m_ + row; }
  const int32_t* s(int64_t b, int row) const { return s_.as<int32_t>() + b * m_ + row; }
  // Super-block b of row `row` (kActivationsQ8K): 256 quants (rows 256 bytes
  // apart), the scale (rows adjacent) and the 16 sums of 16 quants (rows 16 apart).
  const int8_t* q8k(int64_t b, int row) const { return kq_.as<int8_t>() + (b * m_ + row) * 256; }
  const float* d8k(int64_t b, int row) const { return kd_.as<float>() + b * m_ + row; }
  const int16_t* sums8k(int64_t b, int row) const { return ks_.as<int16_t>() + (b * m_ + row) * 16; }
  // Row `row` rounded to bfloat16 (kActivationsBf16), k values.
  const uint16_t* bf16(int row) const { return bf_.as<uint16_t>() + static_cast<int64_t>(row) * k_; }

 private:
  const float* x_ = nullptr;
  int m_ = 0;
  int64_t k_ = 0;
  int64_t ld_ = 0;
  unsigned forms_ = 0;
  AlignedBuffer q_, d_, s_;     // kActivationsQ8
  AlignedBuffer kq_, kd_, ks_;  // kActivationsQ8K
  AlignedBuffer bf_;            // kActivationsBf16
};

// y[m][n] for n in row groups [group_begin, group_end); y has row stride ldy.
// Rows past w.rows() in the last group are not written. Uses ActiveIsa().
void MatMulGroups(const PackedMatrix& w, const Activations& x, float* y, int64_t ldy, int64_t group_begin,
                  int64_t group_end);

}  // namespace aperture::engine
