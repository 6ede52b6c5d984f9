// UTF-8 helpers for tokenizers, streaming and checking outside input (the
// HTTP layer refuses request bytes that are not UTF-8): how many bytes a
// character takes, whether a byte string ends inside a character, and
// repair of invalid input into valid UTF-8 (U+FFFD per maximal invalid
// subpart). Thread-safe (pure functions).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace aperture {

// Byte length a UTF-8 lead byte announces, as llama.cpp splits text into
// characters: 1 for ASCII and stray continuation bytes, 2/3/4 by the high bits.
inline size_t Utf8LengthFromLeadByte(uint8_t b) {
  static constexpr uint8_t kLengths[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  return kLengths[b >> 4];
}

enum class Utf8Scan {
  kValid,       // a complete, well-formed character of `length` bytes
  kIncomplete,  // a well-formed prefix that the end of the input cuts short
  kInvalid,     // `length` bytes (>= 1) that can never start a character
};

// Examines the character starting at s[pos] (pos < s.size()) by the strict
// rules of Unicode Table 3-7 (no overlongs, surrogates or > U+10FFFF).
Utf8Scan ScanUtf8(std::string_view s, size_t pos, size_t* length);

bool IsValidUtf8(std::string_view s);

// Appends `s` to `out` with each maximal invalid subpart replaced by U+FFFD.
// An incomplete character at the very end is replaced too.
void AppendValidUtf8(std::string_view s, std::string* out);

// The number of leading bytes of `s` that can be emitted now: everything but
// a trailing well-formed-but-incomplete character (at most 3 bytes).
size_t Utf8EmittablePrefix(std::string_view s);

// Appends the UTF-8 encoding of code point `cp` (must be <= 0x10FFFF).
void AppendUtf8(uint32_t cp, std::string* out);

}  // namespace aperture
