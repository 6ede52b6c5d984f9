// GPT-2's reversible byte <-> printable-character mapping, used by
// byte-level BPE vocabularies: each byte becomes one Unicode character
// (printable bytes map to themselves, the rest to U+0100 and up), so every
// byte string has a text spelling made of vocabulary characters.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace aperture::engine {

// The UTF-8 spelling of byte b's character ("Ġ" for ' ').
const std::string& ByteToBpeChar(uint8_t b);

// Appends the encoding of every byte of `bytes` to `out`.
void BpeEncodeBytes(std::string_view bytes, std::string* out);

// Decodes a token's text back to bytes. Characters outside the mapping are
// copied through unchanged (as UTF-8); returns the bytes.
std::string BpeDecodeText(std::string_view text);

}  // namespace aperture::engine
