// GgufValue: one metadata value of a GGUF file (a scalar, a string or an
// array of values, arrays possibly nested), shared by the reader and writer.
// A plain value type: thread-compatible (const access from many threads is safe).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace aperture::engine {

// On-disk ids of the GGUF metadata value types.
enum class GgufValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};

// "uint32", "string", "array", ...; "unknown" for an undefined id.
const char* GgufValueTypeName(GgufValueType t);
bool IsValidGgufValueType(uint32_t id);

// The encoded elements of an array inside a GGUF file's bytes (the reader
// keeps arrays this way: a 128k-token vocabulary costs no memory until a
// getter decodes it). The bytes were validated when the file was opened.
struct GgufArrayRef {
  const uint8_t* data = nullptr;
  uint64_t bytes = 0;
  uint64_t count = 0;
  bool operator==(const GgufArrayRef&) const = default;
};

class GgufValue {
 public:
  GgufValue() : type_(GgufValueType::kUint8), data_(uint64_t{0}) {}

  static GgufValue Uint8(uint8_t v) { return GgufValue(GgufValueType::kUint8, uint64_t{v}); }
  static GgufValue Int8(int8_t v) { return GgufValue(GgufValueType::kInt8, int64_t{v}); }
  static GgufValue Uint16(uint16_t v) { return GgufValue(GgufValueType::kUint16, uint64_t{v}); }
  static GgufValue Int16(int16_t v) { return GgufValue(GgufValueType::kInt16, int64_t{v}); }
  static GgufValue Uint32(uint32_t v) { return GgufValue(GgufValueType::kUint32, uint64_t{v}); }
  static GgufValue Int32(int32_t v) { return GgufValue(GgufValueType::kInt32, int64_t{v}); }
  static GgufValue Uint64(uint64_t v) { return GgufValue(GgufValueType::kUint64, v); }
  static GgufValue Int64(int64_t v) { return GgufValue(GgufValueType::kInt64, v); }
  static GgufValue Float32(float v) { return GgufValue(GgufValueType::kFloat32, static_cast<double>(v)); }
  static GgufValue Float64(double v) { return GgufValue(GgufValueType::kFloat64, v); }
  static GgufValue Bool(bool v) { return GgufValue(GgufValueType::kBool, uint64_t{v ? 1u : 0u}); }
  static GgufValue String(std::string v) { return GgufValue(GgufValueType::kString, std::move(v)); }
  // All elements must have type `element_type` (the writer checks).
  static GgufValue Array(GgufValueType element_type, std::vector<GgufValue> elements) {
    GgufValue v(GgufValueType::kArray, std::move(elements));
    v.array_type_ = element_type;
    return v;
  }

  // An array read from a file: refers to the file's bytes, so it must not
  // outlive the GgufFile (Materialized() makes an independent copy).
  static GgufValue ArrayRef(GgufValueType element_type, GgufArrayRef ref) {
    GgufValue v(GgufValueType::kArray, ref);
    v.array_type_ = element_type;
    return v;
  }

  GgufValueType type() const { return type_; }
  bool is_unsigned() const { return std::holds_alternative<uint64_t>(data_) && type_ != GgufValueType::kBool; }
  bool is_signed() const { return std::holds_alternative<int64_t>(data_); }
  bool is_integer() const { return is_unsigned() || is_signed(); }
  bool is_float() const { return std::holds_alternative<double>(data_); }

  // Raw accessors; each is only meaningful for the matching type():
  uint64_t as_uint() const { return std::get<uint64_t>(data_); }                   // unsigned, bool
  int64_t as_int() const { return std::get<int64_t>(data_); }                      // signed
  double as_double() const { return std::get<double>(data_); }                     // float32/64
  bool as_bool() const { return std::get<uint64_t>(data_) != 0; }                  // bool
  const std::string& as_string() const { return std::get<std::string>(data_); }    // string
  std::string TakeString() && { return std::move(std::get<std::string>(data_)); }  // string
  GgufValueType array_type() const { return array_type_; }                         // array
  size_t array_size() const;                                                       // array
  // The elements, decoded (a copy for file-backed arrays: prefer
  // ForEachArrayElement or GgufFile's typed array getters for big arrays).
  std::vector<GgufValue> array() const;
  // Calls `f` on each element in order, decoding one at a time; `f` may move from it.
  void ForEachArrayElement(const std::function<void(GgufValue&)>& f) const;
  // The elements of an in-memory array (built by Array()); nullptr for a file-backed one.
  const std::vector<GgufValue>* array_elements() const { return std::get_if<std::vector<GgufValue>>(&data_); }
  // A copy that refers to no file (arrays decoded, recursively).
  GgufValue Materialized() const;

  // Deep comparison (a file-backed array equals the same elements held in
  // memory; a NaN equals a NaN).
  bool operator==(const GgufValue& o) const;

 private:
  using Data = std::variant<uint64_t, int64_t, double, std::string, std::vector<GgufValue>, GgufArrayRef>;
  GgufValue(GgufValueType t, Data d) : type_(t), data_(std::move(d)) {}

  GgufValueType type_;
  GgufValueType array_type_ = GgufValueType::kUint8;
  Data data_;
};

// One key/value pair, in file order.
struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

}  // namespace aperture::engine
