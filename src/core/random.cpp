#include "core/random.h"

#include <sodium.h>

#include <cstdlib>
#include <mutex>

#include "core/hex.h"

namespace aperture {

void InitCrypto() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) std::abort();  // no safe way to continue without randomness
  });
}

std::string RandomBytes(size_t n) {
  InitCrypto();
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

std::string NewId(const char* prefix) { return std::string(prefix) + "_" + HexEncode(RandomBytes(8)); }

}  // namespace aperture
