// Test helper: builds raw GGUF bytes field by field, so tests can write
// files that GgufWriter (which only writes valid ones) never would.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

namespace aperture::engine::testing {

class RawGguf {
 public:
  template <typename T>
  RawGguf& Put(T v) {
    char buf[sizeof(T)];
    std::memcpy(buf, &v, sizeof(T));
    bytes_.append(buf, sizeof(T));
    return *this;
  }
  RawGguf& U8(uint8_t v) { return Put(v); }
  RawGguf& U32(uint32_t v) { return Put(v); }
  RawGguf& U64(uint64_t v) { return Put(v); }
  RawGguf& Str(const std::string& s) {
    U64(s.size());
    bytes_ += s;
    return *this;
  }
  // magic, version, tensor count, kv count.
  RawGguf& Header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    return U32(0x46554747).U32(version).U64(n_tensors).U64(n_kv);
  }
  // A key with a uint32 value (type 4).
  RawGguf& KvU32(const std::string& key, uint32_t v) { return Str(key).U32(4).U32(v); }
  // A tensor info: name, dims, type, offset.
  RawGguf& Tensor(const std::string& name, std::initializer_list<uint64_t> dims, uint32_t type, uint64_t offset) {
    Str(name).U32(static_cast<uint32_t>(dims.size()));
    for (uint64_t d : dims) U64(d);
    return U32(type).U64(offset);
  }
  RawGguf& PadTo(size_t alignment) {
    bytes_.resize((bytes_.size() + alignment - 1) / alignment * alignment, '\0');
    return *this;
  }
  RawGguf& Zeros(size_t n) {
    bytes_.append(n, '\0');
    return *this;
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

}  // namespace aperture::engine::testing
