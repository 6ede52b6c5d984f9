#include "engine/gguf/gguf_reader.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

#include "absl/status/status.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::engine {
namespace {

// Nested arrays deeper than this are rejected (bounds recursion on hostile input).
constexpr int kMaxArrayDepth = 8;
// ggml's GGML_MAX_NAME is 64; allow longer names but keep a bound.
constexpr uint64_t kMaxTensorNameBytes = 1024;
constexpr uint64_t kMaxKeyBytes = 65535;

absl::Status Malformed(std::string msg) { return absl::InvalidArgumentError("malformed GGUF: " + msg); }

// Bytes one array element occupies at least, so a count can be checked
// against the bytes left before anything is allocated.
uint64_t MinEncodedSize(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
    case GgufValueType::kInt8:
    case GgufValueType::kBool:
      return 1;
    case GgufValueType::kUint16:
    case GgufValueType::kInt16:
      return 2;
    case GgufValueType::kUint32:
    case GgufValueType::kInt32:
    case GgufValueType::kFloat32:
      return 4;
    case GgufValueType::kUint64:
    case GgufValueType::kInt64:
    case GgufValueType::kFloat64:
    case GgufValueType::kString:
      return 8;
    case GgufValueType::kArray:
      return 12;
  }
  return 1;
}

// A bounds-checked little-endian cursor over the file bytes.
class Cursor {
 public:
  Cursor(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint64_t pos() const { return pos_; }
  const uint8_t* at(uint64_t pos) const { return data_ + pos; }
  void Skip(uint64_t n) { pos_ += n; }  // caller checked n <= remaining()
  uint64_t remaining() const { return size_ - pos_; }

  template <typename T>
  absl::Status Read(T* out, const char* what) {
    if (remaining() < sizeof(T)) {
      return Malformed(fmt::format("file ends at byte {} while reading {} ({} bytes needed, {} left)", size_, what,
                                   sizeof(T), remaining()));
    }
    std::memcpy(out, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  absl::Status ReadString(std::string* out, const char* what, uint64_t max_len) {
    uint64_t len = 0;
    RETURN_IF_ERROR(Read(&len, what));
    if (len > remaining()) {
      return Malformed(
          fmt::format("{} at offset {} has length {} but only {} bytes are left", what, pos_ - 8, len, remaining()));
    }
    if (len > max_len) {
      return Malformed(fmt::format("{} at offset {} is {} bytes long (limit {})", what, pos_ - 8, len, max_len));
    }
    out->assign(reinterpret_cast<const char*>(data_ + pos_), len);
    pos_ += len;
    return absl::OkStatus();
  }

 private:
  const uint8_t* data_;
  uint64_t size_;
  uint64_t pos_ = 0;
};

absl::Status ReadValue(Cursor& c, GgufValueType type, const std::string& key, int depth, GgufValue* out);

template <typename T, typename Make>
absl::Status ReadScalar(Cursor& c, const std::string& key, Make make, GgufValue* out) {
  T v{};
  RETURN_IF_ERROR(c.Read(&v, "a metadata value"));
  *out = make(v);
  return absl::OkStatus();
}

absl::Status ReadValue(Cursor& c, GgufValueType type, const std::string& key, int depth, GgufValue* out) {
  switch (type) {
    case GgufValueType::kUint8:
      return ReadScalar<uint8_t>(c, key, GgufValue::Uint8, out);
    case GgufValueType::kInt8:
      return ReadScalar<int8_t>(c, key, GgufValue::Int8, out);
    case GgufValueType::kUint16:
      return ReadScalar<uint16_t>(c, key, GgufValue::Uint16, out);
    case GgufValueType::kInt16:
      return ReadScalar<int16_t>(c, key, GgufValue::Int16, out);
    case GgufValueType::kUint32:
      return ReadScalar<uint32_t>(c, key, GgufValue::Uint32, out);
    case GgufValueType::kInt32:
      return ReadScalar<int32_t>(c, key, GgufValue::Int32, out);
    case GgufValueType::kUint64:
      return ReadScalar<uint64_t>(c, key, GgufValue::Uint64, out);
    case GgufValueType::kInt64:
      return ReadScalar<int64_t>(c, key, GgufValue::Int64, out);
    case GgufValueType::kFloat32:
      return ReadScalar<float>(c, key, GgufValue::Float32, out);
    case GgufValueType::kFloat64:
      return ReadScalar<double>(c, key, GgufValue::Float64, out);
    case GgufValueType::kBool: {
      uint8_t b = 0;
      RETURN_IF_ERROR(c.Read(&b, "a bool value"));
      if (b > 1) {
        return Malformed(fmt::format("key '{}': bool value {} is neither 0 nor 1", key, b));
      }
      *out = GgufValue::Bool(b != 0);
      return absl::OkStatus();
    }
    case GgufValueType::kString: {
      std::string s;
      RETURN_IF_ERROR(c.ReadString(&s, "a string value", std::numeric_limits<uint64_t>::max()));
      *out = GgufValue::String(std::move(s));
      return absl::OkStatus();
    }
    case GgufValueType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return Malformed(fmt::format("key '{}': arrays nested deeper than {}", key, kMaxArrayDepth));
      }
      uint32_t elem_raw = 0;
      RETURN_IF_ERROR(c.Read(&elem_raw, "an array element type"));
      if (!IsValidGgufValueType(elem_raw)) {
        return Malformed(fmt::format("key '{}': array element type {} is not a GGUF value type", key, elem_raw));
      }
      const auto elem_type = static_cast<GgufValueType>(elem_raw);
      uint64_t count = 0;
      RETURN_IF_ERROR(c.Read(&count, "an array length"));
      if (count > c.remaining() / MinEncodedSize(elem_type)) {
        return Malformed(fmt::format("key '{}': array of {} {} elements cannot fit in the {} bytes left", key, count,
                                     GgufValueTypeName(elem_type), c.remaining()));
      }
      // Validate every element but keep only a reference to the bytes:
      // vocabularies are hundreds of thousands of strings.
      const uint64_t start = c.pos();
      const uint64_t fixed = MinEncodedSize(elem_type);
      const bool fixed_size = elem_type != GgufValueType::kString && elem_type != GgufValueType::kArray &&
                              elem_type != GgufValueType::kBool;
      if (fixed_size) {
        c.Skip(count * fixed);  // count * fixed <= remaining, checked above
      } else {
        GgufValue scratch;
        for (uint64_t i = 0; i < count; ++i) {
          absl::Status s = ReadValue(c, elem_type, key, depth + 1, &scratch);
          if (!s.ok()) {
            return absl::Status(s.code(),
                                fmt::format("{} (element {} of array '{}')", std::string(s.message()), i, key));
          }
        }
      }
      *out = GgufValue::ArrayRef(elem_type, GgufArrayRef{c.at(start), c.pos() - start, count});
      return absl::OkStatus();
    }
  }
  return Malformed(fmt::format("key '{}': bad value type {}", key, static_cast<uint32_t>(type)));
}

uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }  // caller checks overflow

}  // namespace

GgufFile::~GgufFile() {
  if (mapped_ && base_ != nullptr) munmap(const_cast<uint8_t*>(base_), size_);
  std::free(owned_);
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    std::string msg = fmt::format("cannot open GGUF file '{}': {}", path, std::strerror(err));
    return err == ENOENT ? absl::NotFoundError(msg) : absl::PermissionDeniedError(msg);
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(fmt::format("'{}' is not a regular file", path));
  }
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->size_ = static_cast<size_t>(st.st_size);
  if (f->size_ > 0) {
    void* p = mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return absl::InternalError(fmt::format("cannot map '{}': {}", path, std::strerror(err)));
    }
    f->base_ = static_cast<const uint8_t*>(p);
    f->mapped_ = true;
  }
  ::close(fd);
  absl::Status s = f->Parse();
  if (!s.ok()) return absl::Status(s.code(), fmt::format("{}: {}", path, std::string(s.message())));
  return f;
}

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::FromBuffer(std::string_view bytes) {
  std::unique_ptr<GgufFile> f(new GgufFile());
  f->size_ = bytes.size();
  // 64-byte aligned copy so tensor pointers are aligned as they would be in a mapping.
  const size_t alloc = (bytes.size() + 63) / 64 * 64;
  f->owned_ = std::aligned_alloc(64, alloc == 0 ? 64 : alloc);
  if (f->owned_ == nullptr) return absl::ResourceExhaustedError("out of memory copying GGUF buffer");
  if (!bytes.empty()) std::memcpy(f->owned_, bytes.data(), bytes.size());
  f->base_ = static_cast<const uint8_t*>(f->owned_);
  RETURN_IF_ERROR(f->Parse());
  return f;
}

absl::Status GgufFile::Parse() {
  Cursor c(base_, size_);
  uint32_t magic = 0;
  RETURN_IF_ERROR(c.Read(&magic, "the magic number"));
  if (magic != kGgufMagic) {
    return Malformed(fmt::format("bad magic 0x{:08x} (expected \"GGUF\"): not a GGUF file", magic));
  }
  RETURN_IF_ERROR(c.Read(&version_, "the version"));
  if (version_ == 1) return Malformed("GGUF version 1 is not supported (only 2 and 3)");
  if (version_ != 2 && version_ != 3) {
    return Malformed(fmt::format("unsupported GGUF version {} (only 2 and 3)", version_));
  }
  uint64_t n_tensors = 0, n_kv = 0;
  RETURN_IF_ERROR(c.Read(&n_tensors, "the tensor count"));
  RETURN_IF_ERROR(c.Read(&n_kv, "the metadata count"));
  // A key/value takes at least 12 bytes (key length, type), a tensor info 24.
  if (n_kv > c.remaining() / 12) {
    return Malformed(fmt::format("metadata count {} cannot fit in a {}-byte file", n_kv, size_));
  }
  if (n_tensors > c.remaining() / 24) {
    return Malformed(fmt::format("tensor count {} cannot fit in a {}-byte file", n_tensors, size_));
  }

  kvs_.reserve(n_kv);
  for (uint64_t i = 0; i < n_kv; ++i) {
    GgufKeyValue kv;
    const uint64_t at = c.pos();
    RETURN_IF_ERROR(c.ReadString(&kv.key, "a metadata key", kMaxKeyBytes));
    if (kv.key.empty()) return Malformed(fmt::format("metadata key {} (offset {}) is empty", i, at));
    uint32_t type_raw = 0;
    RETURN_IF_ERROR(c.Read(&type_raw, "a metadata value type"));
    if (!IsValidGgufValueType(type_raw)) {
      return Malformed(fmt::format("key '{}' (offset {}) has bad value type {}", kv.key, at, type_raw));
    }
    RETURN_IF_ERROR(ReadValue(c, static_cast<GgufValueType>(type_raw), kv.key, 0, &kv.value));
    if (kv_index_.count(kv.key) != 0) {
      return Malformed(fmt::format("duplicate metadata key '{}' (offset {})", kv.key, at));
    }
    kv_index_.emplace(kv.key, kvs_.size());
    kvs_.push_back(std::move(kv));
  }

  if (const GgufValue* a = Find("general.alignment")) {
    if (a->type() != GgufValueType::kUint32) {
      return Malformed(fmt::format("general.alignment has type {} (must be uint32)", GgufValueTypeName(a->type())));
    }
    const uint64_t v = a->as_uint();
    if (v == 0 || (v & (v - 1)) != 0 || v > kGgufMaxAlignment) {
      return Malformed(
          fmt::format("general.alignment {} is not a power of two between 1 and {}", v, kGgufMaxAlignment));
    }
    alignment_ = static_cast<uint32_t>(v);
  }

  tensors_.reserve(n_tensors);
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    const uint64_t at = c.pos();
    RETURN_IF_ERROR(c.ReadString(&t.name, "a tensor name", kMaxTensorNameBytes));
    if (t.name.empty()) return Malformed(fmt::format("tensor {} (offset {}) has an empty name", i, at));
    uint32_t n_dims = 0;
    RETURN_IF_ERROR(c.Read(&n_dims, "a tensor's dimension count"));
    if (n_dims == 0 || n_dims > kGgufMaxDims) {
      return Malformed(fmt::format("tensor '{}' has {} dimensions (must be 1 to {})", t.name, n_dims, kGgufMaxDims));
    }
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t dim = 0;
      RETURN_IF_ERROR(c.Read(&dim, "a tensor dimension"));
      if (dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Malformed(fmt::format("tensor '{}' dimension {} is {} (too large)", t.name, d, dim));
      }
      t.dims.push_back(static_cast<int64_t>(dim));
    }
    uint32_t type_raw = 0;
    RETURN_IF_ERROR(c.Read(&type_raw, "a tensor type"));
    if (!IsKnownGgmlType(type_raw)) {
      return Malformed(fmt::format("tensor '{}' has unknown ggml type {}", t.name, type_raw));
    }
    t.type = static_cast<GgmlType>(type_raw);
    RETURN_IF_ERROR(c.Read(&t.offset, "a tensor offset"));
    auto n = GgmlElementCount(t.dims);
    if (!n.ok()) return Malformed(fmt::format("tensor '{}': {}", t.name, std::string(n.status().message())));
    t.n_elements = *n;
    auto bytes = GgmlTensorBytes(t.type, t.dims);
    if (!bytes.ok()) return Malformed(fmt::format("tensor '{}': {}", t.name, std::string(bytes.status().message())));
    t.size_bytes = *bytes;
    if (tensor_index_.count(t.name) != 0) {
      return Malformed(fmt::format("duplicate tensor name '{}' (offset {})", t.name, at));
    }
    tensor_index_.emplace(t.name, tensors_.size());
    tensors_.push_back(std::move(t));
  }

  // The data section starts at the next multiple of the alignment.
  const uint64_t header_end = c.pos();
  data_offset_ = AlignUp(header_end, alignment_);  // header_end <= size_, no overflow
  if (!tensors_.empty() && data_offset_ > size_) {
    return Malformed(
        fmt::format("tensor data would start at {} (aligned to {}), past the end of "
                    "the {}-byte file",
                    data_offset_, alignment_, size_));
  }
  const uint64_t data_size = data_offset_ <= size_ ? size_ - data_offset_ : 0;
  uint64_t expected = 0;  // where the next tensor must start, relative to data_offset_
  for (GgufTensor& t : tensors_) {
    if (t.offset % alignment_ != 0) {
      return Malformed(
          fmt::format("tensor '{}' offset {} is not a multiple of the alignment {}", t.name, t.offset, alignment_));
    }
    if (t.offset != expected) {
      return Malformed(fmt::format(
          "tensor '{}' has data offset {} but {} was expected (tensor data must be contiguous, in "
          "order, each padded to the alignment {}; this one {})",
          t.name, t.offset, expected, alignment_, t.offset < expected ? "overlaps the previous one" : "leaves a gap"));
    }
    if (t.offset > data_size || t.size_bytes > data_size - t.offset) {
      return Malformed(
          fmt::format("tensor '{}' data ({} bytes at offset {}) runs past the end of the file ({} data bytes)", t.name,
                      t.size_bytes, t.offset, data_size));
    }
    t.data = base_ + data_offset_ + t.offset;
    // offset + size <= data_size < 2^63, so padding cannot overflow.
    expected = AlignUp(t.offset + t.size_bytes, alignment_);
  }
  return absl::OkStatus();
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensor* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

absl::Status Missing(std::string_view key) {
  return absl::NotFoundError(fmt::format("GGUF metadata key '{}' is missing", key));
}

absl::Status WrongType(std::string_view key, const GgufValue& v, const char* want) {
  std::string have = GgufValueTypeName(v.type());
  if (v.type() == GgufValueType::kArray) have += fmt::format(" of {}", GgufValueTypeName(v.array_type()));
  return absl::InvalidArgumentError(fmt::format("GGUF metadata key '{}' has type {}, expected {}", key, have, want));
}

// Integer conversion with a range check; nullopt when `v` is not an integer or does not fit.
template <typename T>
std::optional<T> AsInteger(const GgufValue& v) {
  if (v.is_unsigned()) {
    const uint64_t x = v.as_uint();
    if (x > static_cast<uint64_t>(std::numeric_limits<T>::max())) return std::nullopt;
    return static_cast<T>(x);
  }
  if (v.is_signed()) {
    const int64_t x = v.as_int();
    if constexpr (std::is_unsigned_v<T>) {
      if (x < 0 || static_cast<uint64_t>(x) > std::numeric_limits<T>::max()) return std::nullopt;
    } else {
      if (x < std::numeric_limits<T>::min() || x > std::numeric_limits<T>::max()) return std::nullopt;
    }
    return static_cast<T>(x);
  }
  return std::nullopt;
}

template <typename T>
absl::StatusOr<T> GetIntegerImpl(const GgufValue* v, std::string_view key, const char* want) {
  if (v == nullptr) return Missing(key);
  auto x = AsInteger<T>(*v);
  if (!x) {
    if (v->is_integer()) {
      return absl::InvalidArgumentError(fmt::format("GGUF metadata key '{}' value does not fit in {}", key, want));
    }
    return WrongType(key, *v, want);
  }
  return *x;
}

template <typename T>
absl::StatusOr<std::vector<T>> GetIntegerArrayImpl(const GgufValue* v, std::string_view key, const char* want) {
  if (v == nullptr) return Missing(key);
  if (v->type() != GgufValueType::kArray) return WrongType(key, *v, want);
  switch (v->array_type()) {
    case GgufValueType::kFloat32:
    case GgufValueType::kFloat64:
    case GgufValueType::kBool:
    case GgufValueType::kString:
    case GgufValueType::kArray:
      return WrongType(key, *v, want);
    default:
      break;
  }
  std::vector<T> out;
  out.reserve(v->array_size());
  bool fits = true;
  v->ForEachArrayElement([&](GgufValue& e) {
    auto x = AsInteger<T>(e);
    if (!x) fits = false;
    if (fits) out.push_back(*x);
  });
  if (!fits) {
    return absl::InvalidArgumentError(
        fmt::format("GGUF metadata key '{}' element {} is not an integer that fits in {}", key, out.size(), want));
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> GgufFile::GetString(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type() != GgufValueType::kString) return WrongType(key, *v, "string");
  return v->as_string();
}

absl::StatusOr<uint32_t> GgufFile::GetUint32(std::string_view key) const {
  return GetIntegerImpl<uint32_t>(Find(key), key, "uint32");
}
absl::StatusOr<uint64_t> GgufFile::GetUint64(std::string_view key) const {
  return GetIntegerImpl<uint64_t>(Find(key), key, "uint64");
}
absl::StatusOr<int32_t> GgufFile::GetInt32(std::string_view key) const {
  return GetIntegerImpl<int32_t>(Find(key), key, "int32");
}
absl::StatusOr<int64_t> GgufFile::GetInt64(std::string_view key) const {
  return GetIntegerImpl<int64_t>(Find(key), key, "int64");
}

absl::StatusOr<float> GgufFile::GetFloat32(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (!v->is_float()) return WrongType(key, *v, "float32");
  return static_cast<float>(v->as_double());
}

absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type() != GgufValueType::kBool) return WrongType(key, *v, "bool");
  return v->as_bool();
}

absl::StatusOr<std::string> GgufFile::GetStringOr(std::string_view key, std::string fallback) const {
  return Has(key) ? GetString(key) : absl::StatusOr<std::string>(std::move(fallback));
}
absl::StatusOr<uint32_t> GgufFile::GetUint32Or(std::string_view key, uint32_t fallback) const {
  return Has(key) ? GetUint32(key) : fallback;
}
absl::StatusOr<int32_t> GgufFile::GetInt32Or(std::string_view key, int32_t fallback) const {
  return Has(key) ? GetInt32(key) : fallback;
}
absl::StatusOr<float> GgufFile::GetFloat32Or(std::string_view key, float fallback) const {
  return Has(key) ? GetFloat32(key) : fallback;
}
absl::StatusOr<bool> GgufFile::GetBoolOr(std::string_view key, bool fallback) const {
  return Has(key) ? GetBool(key) : fallback;
}

absl::StatusOr<std::vector<std::string>> GgufFile::GetStringArray(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type() != GgufValueType::kArray || v->array_type() != GgufValueType::kString) {
    return WrongType(key, *v, "array of string");
  }
  std::vector<std::string> out;
  out.reserve(v->array_size());
  v->ForEachArrayElement([&](GgufValue& e) { out.push_back(std::move(e).TakeString()); });
  return out;
}

absl::StatusOr<std::vector<float>> GgufFile::GetFloat32Array(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type() != GgufValueType::kArray ||
      (v->array_type() != GgufValueType::kFloat32 && v->array_type() != GgufValueType::kFloat64)) {
    return WrongType(key, *v, "array of float32");
  }
  std::vector<float> out;
  out.reserve(v->array_size());
  v->ForEachArrayElement([&](GgufValue& e) { out.push_back(static_cast<float>(e.as_double())); });
  return out;
}

absl::StatusOr<std::vector<int32_t>> GgufFile::GetInt32Array(std::string_view key) const {
  return GetIntegerArrayImpl<int32_t>(Find(key), key, "array of int32");
}
absl::StatusOr<std::vector<int64_t>> GgufFile::GetInt64Array(std::string_view key) const {
  return GetIntegerArrayImpl<int64_t>(Find(key), key, "array of int64");
}

}  // namespace aperture::engine
