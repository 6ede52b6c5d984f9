#include "engine/gguf/gguf_value.h"

#include <cmath>
#include <cstring>

namespace aperture::engine {
namespace {

// Decodes validated array bytes. Bounds are still checked so that a bad
// GgufArrayRef can only end the walk early, never read outside it.
class Decoder {
 public:
  Decoder(const uint8_t* p, uint64_t n) : p_(p), n_(n) {}

  template <typename T>
  bool Read(T* out) {
    if (n_ - pos_ < sizeof(T)) return false;
    std::memcpy(out, p_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  // One value of type t; false when the bytes run out.
  bool Value(GgufValueType t, GgufValue* out) {
    switch (t) {
      case GgufValueType::kUint8:
        return Scalar<uint8_t>(out, GgufValue::Uint8);
      case GgufValueType::kInt8:
        return Scalar<int8_t>(out, GgufValue::Int8);
      case GgufValueType::kUint16:
        return Scalar<uint16_t>(out, GgufValue::Uint16);
      case GgufValueType::kInt16:
        return Scalar<int16_t>(out, GgufValue::Int16);
      case GgufValueType::kUint32:
        return Scalar<uint32_t>(out, GgufValue::Uint32);
      case GgufValueType::kInt32:
        return Scalar<int32_t>(out, GgufValue::Int32);
      case GgufValueType::kUint64:
        return Scalar<uint64_t>(out, GgufValue::Uint64);
      case GgufValueType::kInt64:
        return Scalar<int64_t>(out, GgufValue::Int64);
      case GgufValueType::kFloat32:
        return Scalar<float>(out, GgufValue::Float32);
      case GgufValueType::kFloat64:
        return Scalar<double>(out, GgufValue::Float64);
      case GgufValueType::kBool: {
        uint8_t b = 0;
        if (!Read(&b)) return false;
        *out = GgufValue::Bool(b != 0);
        return true;
      }
      case GgufValueType::kString: {
        uint64_t len = 0;
        if (!Read(&len) || len > n_ - pos_) return false;
        *out = GgufValue::String(std::string(reinterpret_cast<const char*>(p_ + pos_), len));
        pos_ += len;
        return true;
      }
      case GgufValueType::kArray: {
        uint32_t elem = 0;
        uint64_t count = 0;
        if (!Read(&elem) || !Read(&count) || !IsValidGgufValueType(elem)) return false;
        const uint64_t start = pos_;
        GgufValue skip;
        for (uint64_t i = 0; i < count; ++i) {
          if (!Value(static_cast<GgufValueType>(elem), &skip)) return false;
        }
        *out = GgufValue::ArrayRef(static_cast<GgufValueType>(elem), GgufArrayRef{p_ + start, pos_ - start, count});
        return true;
      }
    }
    return false;
  }

 private:
  template <typename T, typename Make>
  bool Scalar(GgufValue* out, Make make) {
    T v{};
    if (!Read(&v)) return false;
    *out = make(v);
    return true;
  }

  const uint8_t* p_;
  uint64_t n_;
  uint64_t pos_ = 0;
};

}  // namespace

size_t GgufValue::array_size() const {
  if (const auto* ref = std::get_if<GgufArrayRef>(&data_)) return ref->count;
  return std::get<std::vector<GgufValue>>(data_).size();
}

void GgufValue::ForEachArrayElement(const std::function<void(GgufValue&)>& f) const {
  if (const auto* ref = std::get_if<GgufArrayRef>(&data_)) {
    Decoder d(ref->data, ref->bytes);
    GgufValue v;
    for (uint64_t i = 0; i < ref->count; ++i) {
      if (!d.Value(array_type_, &v)) return;
      f(v);
    }
    return;
  }
  for (const GgufValue& e : std::get<std::vector<GgufValue>>(data_)) {
    GgufValue copy = e;
    f(copy);
  }
}

std::vector<GgufValue> GgufValue::array() const {
  if (const auto* elems = std::get_if<std::vector<GgufValue>>(&data_)) return *elems;
  std::vector<GgufValue> out;
  out.reserve(array_size());
  ForEachArrayElement([&](GgufValue& v) { out.push_back(std::move(v)); });
  return out;
}

GgufValue GgufValue::Materialized() const {
  if (type_ != GgufValueType::kArray) return *this;
  std::vector<GgufValue> elems;
  elems.reserve(array_size());
  ForEachArrayElement([&](GgufValue& v) { elems.push_back(v.Materialized()); });
  return Array(array_type_, std::move(elems));
}

bool GgufValue::operator==(const GgufValue& o) const {
  if (type_ != o.type_) return false;
  if (is_float()) {
    // NaN equals NaN here: this compares stored values, not numbers.
    const double a = as_double(), b = o.as_double();
    return a == b || (std::isnan(a) && std::isnan(b));
  }
  if (type_ != GgufValueType::kArray) return data_ == o.data_;
  if (array_type_ != o.array_type_ || array_size() != o.array_size()) return false;
  return array() == o.array();
}

const char* GgufValueTypeName(GgufValueType t) {
  switch (t) {
    case GgufValueType::kUint8:
      return "uint8";
    case GgufValueType::kInt8:
      return "int8";
    case GgufValueType::kUint16:
      return "uint16";
    case GgufValueType::kInt16:
      return "int16";
    case GgufValueType::kUint32:
      return "uint32";
    case GgufValueType::kInt32:
      return "int32";
    case GgufValueType::kFloat32:
      return "float32";
    case GgufValueType::kBool:
      return "bool";
    case GgufValueType::kString:
      return "string";
    case GgufValueType::kArray:
      return "array";
    case GgufValueType::kUint64:
      return "uint64";
    case GgufValueType::kInt64:
      return "int64";
    case GgufValueType::kFloat64:
      return "float64";
  }
  return "unknown";
}

bool IsValidGgufValueType(uint32_t id) { return id <= 12; }

}  // namespace aperture::engine
