// Cryptographically secure randomness (libsodium) and random identifiers.
#pragma once

#include <cstddef>
#include <string>

namespace aperture {

// Initialises libsodium once; safe to call from any thread, any number of times.
void InitCrypto();

// n random bytes.
std::string RandomBytes(size_t n);

// An identifier such as "prn_3f9a1c0d5e7b2a48": prefix, underscore, 16 hex digits.
std::string NewId(const char* prefix);

}  // namespace aperture
