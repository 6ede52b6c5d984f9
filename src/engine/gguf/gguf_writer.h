// GgufWriter: builds a GGUF v3 (or v2) file from metadata and tensors, in
// the layout GgufFile reads: header, key/values in insertion order, tensor
// infos, then each tensor's bytes padded to the alignment. Used by tests,
// the model generator and the download level.
//
// Usage:
//   GgufWriter w;
//   w.SetString("general.architecture", "llama");
//   w.SetUint32("llama.block_count", 2);
//   w.SetStringArray("tokenizer.ggml.tokens", tokens);
//   RETURN_IF_ERROR(w.AddTensor("token_embd.weight", {dim, vocab}, GgmlType::kF32, bytes));
//   RETURN_IF_ERROR(w.WriteFile(path));     // or: ASSIGN_OR_RETURN(std::string f, w.Serialize());
//
// Thread-compatible: use from one thread at a time.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "engine/gguf/ggml_type.h"
#include "engine/gguf/gguf_value.h"

namespace aperture::engine {

class GgufWriter {
 public:
  GgufWriter() = default;

  // 3 (default) or 2; anything else makes Serialize fail.
  void SetVersion(uint32_t version) { version_ = version; }
  // Power of two <= 65536 (else Serialize fails); stored as
  // `general.alignment` (uint32). Setting that key directly does the same.
  void SetAlignment(uint32_t alignment);

  // Sets a key; an existing key keeps its position and gets the new value.
  // Values copied from a GgufFile are deep-copied, so the file may close first.
  void Set(std::string key, GgufValue value);
  void SetString(std::string key, std::string v) { Set(std::move(key), GgufValue::String(std::move(v))); }
  void SetUint32(std::string key, uint32_t v) { Set(std::move(key), GgufValue::Uint32(v)); }
  void SetInt32(std::string key, int32_t v) { Set(std::move(key), GgufValue::Int32(v)); }
  void SetUint64(std::string key, uint64_t v) { Set(std::move(key), GgufValue::Uint64(v)); }
  void SetFloat32(std::string key, float v) { Set(std::move(key), GgufValue::Float32(v)); }
  void SetBool(std::string key, bool v) { Set(std::move(key), GgufValue::Bool(v)); }
  void SetStringArray(std::string key, const std::vector<std::string>& v);
  void SetFloat32Array(std::string key, std::span<const float> v);
  void SetInt32Array(std::string key, std::span<const int32_t> v);

  // Adds a tensor. `dims[0]` is the row length; `data` must hold exactly
  // GgmlTensorBytes(type, dims) bytes. Errors on an empty or duplicate name,
  // 0 or more than 4 dims, an unknown type or a size mismatch.
  absl::Status AddTensor(std::string name, std::vector<int64_t> dims, GgmlType type, std::vector<uint8_t> data);
  absl::Status AddTensor(std::string name, std::vector<int64_t> dims, GgmlType type, std::span<const uint8_t> data) {
    return AddTensor(std::move(name), std::move(dims), type, std::vector<uint8_t>(data.begin(), data.end()));
  }

  // Removes the tensor `name`; NotFound when there is none.
  absl::Status RemoveTensor(std::string_view name);

  // The whole file in memory.
  absl::StatusOr<std::string> Serialize() const;
  // Writes `path` (through a temporary file renamed into place).
  absl::Status WriteFile(const std::string& path) const;

 private:
  struct Tensor {
    std::string name;
    std::vector<int64_t> dims;
    GgmlType type;
    std::vector<uint8_t> data;
  };
  // Header, metadata and tensor infos, padded to the alignment.
  absl::StatusOr<std::string> SerializeHeader() const;

  uint32_t version_ = 3;
  uint32_t alignment_ = 32;
  std::vector<GgufKeyValue> kvs_;
  std::vector<Tensor> tensors_;
};

}  // namespace aperture::engine
