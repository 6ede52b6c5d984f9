// GgufValue: one metadata value of a GGUF file (a scalar, a string or an
// array of values, arrays possibly nested), shared by the reader and writer.
// A plain value type: thread-compatible (const access from many threads is safe).
#pragma once

#include <cstdint>
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
  static GgufValue Float32(float v) {
    return GgufValue(GgufValueType::kFloat32, static_cast<double>(v));
  }
  static GgufValue Float64(double v) { return GgufValue(GgufValueType::kFloat64, v); }
  static GgufValue Bool(bool v) { return GgufValue(GgufValueType::kBool, uint64_t{v ? 1u : 0u}); }
  static GgufValue String(std::string v) { return GgufValue(GgufValueType::kString, std::move(v)); }
  // All elements must have type `element_type` (the writer checks).
  static GgufValue Array(GgufValueType element_type, std::vector<GgufValue> elements) {
    GgufValue v(GgufValueType::kArray, std::move(elements));
    v.array_type_ = element_type;
    return v;
  }

  GgufValueType type() const { return type_; }
  bool is_unsigned() const {
    return std::holds_alternative<uint64_t>(data_) && type_ != GgufValueType::kBool;
  }
  bool is_signed() const { return std::holds_alternative<int64_t>(data_); }
  bool is_integer() const { return is_unsigned() || is_signed(); }
  bool is_float() const { return std::holds_alternative<double>(data_); }

  // Raw accessors; each is only meaningful for the matching type():
  uint64_t as_uint() const { return std::get<uint64_t>(data_); }                 // unsigned, bool
  int64_t as_int() const { return std::get<int64_t>(data_); }                    // signed
  double as_double() const { return std::get<double>(data_); }                   // float32/64
  bool as_bool() const { return std::get<uint64_t>(data_) != 0; }                // bool
  const std::string& as_string() const { return std::get<std::string>(data_); }  // string
  GgufValueType array_type() const { return array_type_; }                       // array
  const std::vector<GgufValue>& array() const {                                  // array
    return std::get<std::vector<GgufValue>>(data_);
  }

  bool operator==(const GgufValue& o) const {
    return type_ == o.type_ && array_type_ == o.array_type_ && data_ == o.data_;
  }

 private:
  using Data = std::variant<uint64_t, int64_t, double, std::string, std::vector<GgufValue>>;
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
