#include "core/hash.h"

#include <sodium.h>

#include <cassert>

#include "core/hex.h"
#include "core/random.h"

namespace aperture {

std::string Sha256(std::string_view data) {
  InitCrypto();
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(data.data()),
                     data.size());
  return out;
}

std::string Sha256Hex(std::string_view data) { return HexEncode(Sha256(data)); }

std::string KeyedBlake2b(std::string_view key, std::string_view data) {
  InitCrypto();
  assert(key.size() >= crypto_generichash_KEYBYTES_MIN && key.size() <= crypto_generichash_KEYBYTES_MAX);
  std::string out(32, '\0');
  crypto_generichash(reinterpret_cast<unsigned char*>(out.data()), out.size(),
                     reinterpret_cast<const unsigned char*>(data.data()), data.size(),
                     reinterpret_cast<const unsigned char*>(key.data()), key.size());
  return out;
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  InitCrypto();
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace aperture
