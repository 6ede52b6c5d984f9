// API keys: "ak_" + 30 random base62 characters (178 bits) + 6 base62
// characters of CRC-32 over the rest, as GitHub's tokens do: a typo fails the
// checksum before any lookup, and scanners can recognise a leaked key.
// Keys are stored only as BLAKE2b keyed with the data directory's secret.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace aperture {

inline constexpr std::string_view kApiKeyPrefix = "ak_";
inline constexpr size_t kApiKeyRandomChars = 30;
inline constexpr size_t kApiKeyChecksumChars = 6;
inline constexpr size_t kApiKeyLength = 3 + kApiKeyRandomChars + kApiKeyChecksumChars;

std::string GenerateApiKey();

// Checks shape and checksum without any lookup. Errors say which is wrong
// (and never echo the key).
absl::Status CheckApiKeyFormat(std::string_view key);

// Thread-safe (immutable).
class ApiKeyHasher {
 public:
  explicit ApiKeyHasher(std::string secret) : secret_(std::move(secret)) {}
  std::string Hash(std::string_view key) const;  // 32 raw bytes

 private:
  std::string secret_;
};

}  // namespace aperture
