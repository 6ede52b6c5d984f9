// A 64-byte aligned, zero-initialised heap buffer (AVX-512 loads never split a
// cache line). Move-only; not thread-safe.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace aperture::engine {

class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t bytes) { Resize(bytes); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), size_(std::exchange(o.size_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
    }
    return *this;
  }
  ~AlignedBuffer() { std::free(data_); }

  // Discards the contents; the new buffer is zeroed.
  void Resize(size_t bytes) {
    ResizeUninitialized(bytes);
    if (data_ != nullptr) std::memset(data_, 0, (bytes + 63) / 64 * 64);
  }
  // Discards the contents; the new bytes are unspecified (the caller writes them all).
  void ResizeUninitialized(size_t bytes) {
    std::free(data_);
    data_ = nullptr;
    size_ = bytes;
    if (bytes == 0) return;
    const size_t rounded = (bytes + 63) / 64 * 64;
    data_ = static_cast<unsigned char*>(std::aligned_alloc(64, rounded));
    if (data_ == nullptr) std::abort();  // out of memory: nothing sensible to return
  }
  // Grows (discarding contents) only when smaller than `bytes`.
  void Reserve(size_t bytes) {
    if (bytes > size_) Resize(bytes);
  }

  unsigned char* data() { return data_; }
  const unsigned char* data() const { return data_; }
  template <typename T>
  T* as() {
    return reinterpret_cast<T*>(data_);
  }
  template <typename T>
  const T* as() const {
    return reinterpret_cast<const T*>(data_);
  }
  size_t size() const { return size_; }

 private:
  unsigned char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace aperture::engine
