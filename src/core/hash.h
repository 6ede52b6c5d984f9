// Hash functions used across Aperture (libsodium): SHA-256 for commitments and
// the transparency log, keyed BLAKE2b for API keys at rest.
#pragma once

#include <string>
#include <string_view>

namespace aperture {

// 32 raw bytes.
std::string Sha256(std::string_view data);
std::string Sha256Hex(std::string_view data);

// 32 raw bytes of BLAKE2b keyed with `key` (16 to 64 bytes).
std::string KeyedBlake2b(std::string_view key, std::string_view data);

// Constant-time equality of two byte strings of the same length; false if lengths differ.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

}  // namespace aperture
