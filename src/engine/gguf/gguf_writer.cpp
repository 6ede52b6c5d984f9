#include "engine/gguf/gguf_writer.h"

#include <cstdio>
#include <cstring>

#include "core/status_macros.h"
#include "engine/gguf/gguf_reader.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

template <typename T>
void Put(std::string& out, T v) {
  char buf[sizeof(T)];
  std::memcpy(buf, &v, sizeof(T));
  out.append(buf, sizeof(T));
}

void PutString(std::string& out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out += s;
}

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

absl::Status PutValue(std::string& out, const GgufValue& v, const std::string& key) {
  switch (v.type()) {
    case GgufValueType::kUint8:
      Put<uint8_t>(out, static_cast<uint8_t>(v.as_uint()));
      break;
    case GgufValueType::kInt8:
      Put<int8_t>(out, static_cast<int8_t>(v.as_int()));
      break;
    case GgufValueType::kUint16:
      Put<uint16_t>(out, static_cast<uint16_t>(v.as_uint()));
      break;
    case GgufValueType::kInt16:
      Put<int16_t>(out, static_cast<int16_t>(v.as_int()));
      break;
    case GgufValueType::kUint32:
      Put<uint32_t>(out, static_cast<uint32_t>(v.as_uint()));
      break;
    case GgufValueType::kInt32:
      Put<int32_t>(out, static_cast<int32_t>(v.as_int()));
      break;
    case GgufValueType::kUint64:
      Put<uint64_t>(out, v.as_uint());
      break;
    case GgufValueType::kInt64:
      Put<int64_t>(out, v.as_int());
      break;
    case GgufValueType::kFloat32:
      Put<float>(out, static_cast<float>(v.as_double()));
      break;
    case GgufValueType::kFloat64:
      Put<double>(out, v.as_double());
      break;
    case GgufValueType::kBool:
      Put<uint8_t>(out, v.as_bool() ? 1 : 0);
      break;
    case GgufValueType::kString:
      PutString(out, v.as_string());
      break;
    case GgufValueType::kArray: {
      Put<uint32_t>(out, static_cast<uint32_t>(v.array_type()));
      // Set() materialized every array, so the elements are in memory.
      const std::vector<GgufValue>* elems = v.array_elements();
      if (elems == nullptr) return absl::InternalError("file-backed array in GgufWriter");
      Put<uint64_t>(out, elems->size());
      for (const GgufValue& e : *elems) {
        if (e.type() != v.array_type()) {
          return absl::InvalidArgumentError(fmt::format("key '{}': array of {} holds a {} element", key,
                                                        GgufValueTypeName(v.array_type()),
                                                        GgufValueTypeName(e.type())));
        }
        RETURN_IF_ERROR(PutValue(out, e, key));
      }
      break;
    }
  }
  return absl::OkStatus();
}

}  // namespace

void GgufWriter::SetAlignment(uint32_t alignment) { SetUint32("general.alignment", alignment); }

void GgufWriter::Set(std::string key, GgufValue value) {
  // A value copied from a GgufFile may point into that file's mapping.
  value = value.Materialized();
  // The layout must follow the alignment the file will declare.
  if (key == "general.alignment" && value.type() == GgufValueType::kUint32) {
    alignment_ = static_cast<uint32_t>(value.as_uint());
  }
  for (GgufKeyValue& kv : kvs_) {
    if (kv.key == key) {
      kv.value = std::move(value);
      return;
    }
  }
  kvs_.push_back({std::move(key), std::move(value)});
}

void GgufWriter::SetStringArray(std::string key, const std::vector<std::string>& v) {
  std::vector<GgufValue> elems;
  elems.reserve(v.size());
  for (const std::string& s : v) elems.push_back(GgufValue::String(s));
  Set(std::move(key), GgufValue::Array(GgufValueType::kString, std::move(elems)));
}

void GgufWriter::SetFloat32Array(std::string key, std::span<const float> v) {
  std::vector<GgufValue> elems;
  elems.reserve(v.size());
  for (float f : v) elems.push_back(GgufValue::Float32(f));
  Set(std::move(key), GgufValue::Array(GgufValueType::kFloat32, std::move(elems)));
}

void GgufWriter::SetInt32Array(std::string key, std::span<const int32_t> v) {
  std::vector<GgufValue> elems;
  elems.reserve(v.size());
  for (int32_t i : v) elems.push_back(GgufValue::Int32(i));
  Set(std::move(key), GgufValue::Array(GgufValueType::kInt32, std::move(elems)));
}

absl::Status GgufWriter::AddTensor(std::string name, std::vector<int64_t> dims, GgmlType type,
                                   std::vector<uint8_t> data) {
  if (name.empty()) return absl::InvalidArgumentError("tensor name is empty");
  for (const Tensor& t : tensors_) {
    if (t.name == name) {
      return absl::InvalidArgumentError(fmt::format("duplicate tensor name '{}'", name));
    }
  }
  if (dims.empty() || dims.size() > static_cast<size_t>(kGgufMaxDims)) {
    return absl::InvalidArgumentError(fmt::format("tensor '{}' has {} dimensions (must be 1 to 4)", name, dims.size()));
  }
  auto bytes = GgmlTensorBytes(type, dims);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError(fmt::format("tensor '{}': {}", name, std::string(bytes.status().message())));
  }
  if (*bytes != data.size()) {
    return absl::InvalidArgumentError(
        fmt::format("tensor '{}' of type {} needs {} bytes, got {}", name, GgmlTypeName(type), *bytes, data.size()));
  }
  tensors_.push_back({std::move(name), std::move(dims), type, std::move(data)});
  return absl::OkStatus();
}

absl::Status GgufWriter::RemoveTensor(std::string_view name) {
  for (auto it = tensors_.begin(); it != tensors_.end(); ++it) {
    if (it->name == name) {
      tensors_.erase(it);
      return absl::OkStatus();
    }
  }
  return absl::NotFoundError(fmt::format("no tensor '{}'", name));
}

absl::StatusOr<std::string> GgufWriter::SerializeHeader() const {
  if (version_ != 2 && version_ != 3) {
    return absl::InvalidArgumentError(fmt::format("GGUF version {} cannot be written", version_));
  }
  if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0 || alignment_ > kGgufMaxAlignment) {
    return absl::InvalidArgumentError(
        fmt::format("alignment {} is not a power of two <= {}", alignment_, kGgufMaxAlignment));
  }
  std::string out;
  Put<uint32_t>(out, kGgufMagic);
  Put<uint32_t>(out, version_);
  Put<uint64_t>(out, tensors_.size());
  Put<uint64_t>(out, kvs_.size());
  for (const GgufKeyValue& kv : kvs_) {
    PutString(out, kv.key);
    Put<uint32_t>(out, static_cast<uint32_t>(kv.value.type()));
    RETURN_IF_ERROR(PutValue(out, kv.value, kv.key));
  }
  uint64_t offset = 0;
  for (const Tensor& t : tensors_) {
    PutString(out, t.name);
    Put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (int64_t d : t.dims) Put<uint64_t>(out, static_cast<uint64_t>(d));
    Put<uint32_t>(out, static_cast<uint32_t>(t.type));
    Put<uint64_t>(out, offset);
    offset = AlignUp(offset + t.data.size(), alignment_);
  }
  out.resize(AlignUp(out.size(), alignment_), '\0');
  return out;
}

absl::StatusOr<std::string> GgufWriter::Serialize() const {
  ASSIGN_OR_RETURN(std::string out, SerializeHeader());
  for (const Tensor& t : tensors_) {
    out.append(reinterpret_cast<const char*>(t.data.data()), t.data.size());
    out.resize(AlignUp(out.size(), alignment_), '\0');
  }
  return out;
}

absl::Status GgufWriter::WriteFile(const std::string& path) const {
  ASSIGN_OR_RETURN(std::string header, SerializeHeader());
  const std::string tmp = path + ".tmp";
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (f == nullptr) {
    return absl::PermissionDeniedError(fmt::format("cannot create '{}': {}", tmp, std::strerror(errno)));
  }
  bool ok = std::fwrite(header.data(), 1, header.size(), f) == header.size();
  const std::string zeros(alignment_, '\0');
  for (const Tensor& t : tensors_) {
    if (!ok) break;
    ok = std::fwrite(t.data.data(), 1, t.data.size(), f) == t.data.size();
    const size_t pad = AlignUp(t.data.size(), alignment_) - t.data.size();
    if (ok && pad > 0) ok = std::fwrite(zeros.data(), 1, pad, f) == pad;
  }
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return absl::InternalError(fmt::format("cannot write '{}': {}", path, std::strerror(errno)));
  }
  return absl::OkStatus();
}

}  // namespace aperture::engine
