#include "access/api_key.h"

#include <array>
#include <cstdint>

#include "core/hash.h"
#include "core/random.h"

namespace aperture {
namespace {

constexpr std::string_view kBase62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

uint32_t Crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t crc = 0xFFFFFFFFu;
  for (unsigned char ch : data) crc = table[(crc ^ ch) & 0xFF] ^ (crc >> 8);
  return crc ^ 0xFFFFFFFFu;
}

// Fixed-width base62 of the CRC (6 digits hold 62^6 > 2^32).
std::string Checksum(std::string_view body) {
  uint32_t crc = Crc32(body);
  std::string out(kApiKeyChecksumChars, '0');
  for (size_t i = kApiKeyChecksumChars; i-- > 0;) {
    out[i] = kBase62[crc % 62];
    crc /= 62;
  }
  return out;
}

}  // namespace

std::string GenerateApiKey() {
  std::string key(kApiKeyPrefix);
  // Rejection sampling keeps every character uniform over the alphabet.
  while (key.size() < kApiKeyPrefix.size() + kApiKeyRandomChars) {
    for (unsigned char b : RandomBytes(32)) {
      if (b < 248 && key.size() < kApiKeyPrefix.size() + kApiKeyRandomChars) key.push_back(kBase62[b % 62]);
    }
  }
  key += Checksum(key);
  return key;
}

absl::Status CheckApiKeyFormat(std::string_view key) {
  if (key.size() != kApiKeyLength || key.substr(0, kApiKeyPrefix.size()) != kApiKeyPrefix) {
    return absl::UnauthenticatedError(
        "the API key is malformed: Aperture keys start with 'ak_' and are 39 characters long");
  }
  for (char c : key.substr(kApiKeyPrefix.size())) {
    if (kBase62.find(c) == std::string_view::npos) {
      return absl::UnauthenticatedError("the API key is malformed: it contains a character keys never have");
    }
  }
  std::string_view body = key.substr(0, key.size() - kApiKeyChecksumChars);
  if (!ConstantTimeEquals(Checksum(body), key.substr(body.size()))) {
    return absl::UnauthenticatedError("the API key's checksum does not match: it was mistyped or truncated");
  }
  return absl::OkStatus();
}

std::string ApiKeyHasher::Hash(std::string_view key) const { return KeyedBlake2b(secret_, key); }

}  // namespace aperture
