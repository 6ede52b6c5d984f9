// GgufFile: a validated, read-only view of a GGUF file (versions 2 and 3):
// its metadata, its tensor infos and pointers to the tensor data, which stay
// in the memory map (no copy).
//
// Usage:
//   ASSIGN_OR_RETURN(std::unique_ptr<GgufFile> f, GgufFile::Open(path));
//   ASSIGN_OR_RETURN(std::string arch, f->GetString("general.architecture"));
//   ASSIGN_OR_RETURN(uint32_t n_layer, f->GetUint32(arch + ".block_count"));
//   ASSIGN_OR_RETURN(float eps, f->GetFloat32Or(arch + ".attention.layer_norm_rms_epsilon",
//   1e-5f)); const GgufTensor* t = f->FindTensor("token_embd.weight");
//   // t->dims[0] is the row length (fastest varying), t->data the bytes.
//
// Everything is checked when the file is opened: every count, string
// length, dimension, element product, offset and size against overflow and
// the file size; value and tensor types; duplicate keys and tensor names;
// `general.alignment` (a uint32 power of two, at most 65536, default 32);
// tensor data in bounds, each offset aligned, tensors stored contiguously in
// file order (as ggml writes them, so none overlap). Once Open succeeds,
// every GgufTensor's data..data+size_bytes lies inside the mapping.
//
// Metadata arrays (vocabularies, merges) are validated at open but stay in
// the mapping; the array getters decode them on each call, so call them once.
//
// Thread-safety: immutable after construction; any number of threads may
// read it concurrently. Tensor pointers live as long as the GgufFile.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_value.h"

namespace aperture::engine {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" little-endian
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr uint32_t kGgufMaxAlignment = 65536;
inline constexpr int kGgufMaxDims = 4;

struct GgufTensor {
  std::string name;
  std::vector<int64_t> dims;  // 1..4 entries; dims[0] is the row length
  GgmlType type = GgmlType::kF32;
  uint64_t offset = 0;  // relative to the start of the data section
  uint64_t n_elements = 0;
  uint64_t size_bytes = 0;
  const uint8_t* data = nullptr;  // inside the mapping; aligned as the file says

  // dims[i], or 1 for i >= dims.size() (ggml's convention).
  int64_t dim(size_t i) const { return i < dims.size() ? dims[i] : 1; }
  int64_t rows() const { return n_elements == 0 ? 0 : static_cast<int64_t>(n_elements) / dims[0]; }
};

class GgufFile {
 public:
  // Maps `path` read-only and validates it. Errors name the file and what is wrong.
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);
  // Parses a copy of `bytes` (kept in a 64-byte-aligned buffer); for tests and fuzzing.
  static absl::StatusOr<std::unique_ptr<GgufFile>> FromBuffer(std::string_view bytes);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  uint32_t version() const { return version_; }
  uint32_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }  // start of tensor data in the file
  const uint8_t* file_data() const { return base_; }
  size_t file_size() const { return size_; }

  // ---- metadata ----
  const std::vector<GgufKeyValue>& metadata() const { return kvs_; }
  // nullptr when absent.
  const GgufValue* Find(std::string_view key) const;
  bool Has(std::string_view key) const { return Find(key) != nullptr; }

  // Typed getters. NotFound when the key is absent; InvalidArgument naming
  // the key when the type does not fit. Integer getters accept any integer
  // type whose value fits the requested type; GetFloat32 accepts float32 and
  // float64; GetBool only bool.
  absl::StatusOr<std::string> GetString(std::string_view key) const;
  absl::StatusOr<uint32_t> GetUint32(std::string_view key) const;
  absl::StatusOr<uint64_t> GetUint64(std::string_view key) const;
  absl::StatusOr<int32_t> GetInt32(std::string_view key) const;
  absl::StatusOr<int64_t> GetInt64(std::string_view key) const;
  absl::StatusOr<float> GetFloat32(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  // As above, but `fallback` when the key is absent (a wrong type is still an error).
  absl::StatusOr<std::string> GetStringOr(std::string_view key, std::string fallback) const;
  absl::StatusOr<uint32_t> GetUint32Or(std::string_view key, uint32_t fallback) const;
  absl::StatusOr<int32_t> GetInt32Or(std::string_view key, int32_t fallback) const;
  absl::StatusOr<float> GetFloat32Or(std::string_view key, float fallback) const;
  absl::StatusOr<bool> GetBoolOr(std::string_view key, bool fallback) const;
  // Arrays: the element type must fit as for the scalar getters.
  absl::StatusOr<std::vector<std::string>> GetStringArray(std::string_view key) const;
  absl::StatusOr<std::vector<float>> GetFloat32Array(std::string_view key) const;
  absl::StatusOr<std::vector<int32_t>> GetInt32Array(std::string_view key) const;
  absl::StatusOr<std::vector<int64_t>> GetInt64Array(std::string_view key) const;

  // ---- tensors ----
  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  // nullptr when absent.
  const GgufTensor* FindTensor(std::string_view name) const;

 private:
  GgufFile() = default;
  absl::Status Parse();

  const uint8_t* base_ = nullptr;
  size_t size_ = 0;
  bool mapped_ = false;    // base_ came from mmap
  void* owned_ = nullptr;  // base_ is an aligned heap copy

  uint32_t version_ = 0;
  uint32_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> kvs_;
  struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Index = std::unordered_map<std::string, size_t, StringHash, std::equal_to<>>;
  Index kv_index_;
  std::vector<GgufTensor> tensors_;
  Index tensor_index_;
};

}  // namespace aperture::engine
