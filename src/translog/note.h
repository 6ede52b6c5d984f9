// C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 keys, byte for
// byte as Go's golang.org/x/mod/sumdb/note signs and opens them, so standard
// tooling verifies Aperture's checkpoints and Aperture verifies theirs.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aperture::translog {

inline constexpr uint8_t kAlgEd25519 = 0x01;

// Non-empty UTF-8 without Unicode spaces or '+'.
bool IsValidKeyName(std::string_view name);
// The key hash: the first 4 bytes (big-endian) of SHA-256(name || '\n' || alg || public key).
uint32_t NoteKeyHash(std::string_view name, std::string_view alg_and_key);
// The verifier key "name+hash+base64(0x01 || public key)" of an Ed25519 public key.
std::string Ed25519VerifierKey(std::string_view name, std::string_view public_key);

// Signs notes under one key name. Immutable after creation, so thread-safe.
class NoteSigner {
 public:
  // `secret_key`: a libsodium Ed25519 secret key (64 bytes: seed || public key).
  static absl::StatusOr<NoteSigner> Create(std::string name, std::string_view secret_key);
  // `seed`: the 32-byte Ed25519 seed (what Go's PRIVATE+KEY strings carry).
  static absl::StatusOr<NoteSigner> FromSeed(std::string name, std::string_view seed);
  NoteSigner(const NoteSigner&);
  NoteSigner& operator=(const NoteSigner&);
  ~NoteSigner();

  const std::string& name() const { return name_; }
  uint32_t key_hash() const { return key_hash_; }
  std::string public_key() const;  // 32 bytes
  // "name+hash+base64(0x01 || public key)", the verifier key others configure.
  std::string VerifierKey() const;
  // The signed note: `text`, a blank line and this key's signature line.
  // `text` must be a valid note text (UTF-8, no control characters but '\n',
  // ending in '\n', no blank line).
  absl::StatusOr<std::string> Sign(std::string_view text) const;

 private:
  NoteSigner() = default;
  std::string name_;
  uint32_t key_hash_ = 0;
  std::string secret_key_;  // 64 bytes, zeroed on destruction
};

// Verifies notes signed by one key. Immutable, so thread-safe.
class NoteVerifier {
 public:
  static absl::StatusOr<NoteVerifier> Parse(std::string_view verifier_key);

  const std::string& name() const { return name_; }
  uint32_t key_hash() const { return key_hash_; }
  // The note's text when it carries a valid signature by this key. Fails on
  // a malformed note (bad UTF-8, control characters, no signature block, a
  // line in it that is not a signature), an invalid signature by this key,
  // or no signature by this key at all. Signatures by other keys are ignored.
  absl::StatusOr<std::string> Open(std::string_view note) const;

 private:
  NoteVerifier() = default;
  std::string name_;
  uint32_t key_hash_ = 0;
  std::string public_key_;  // 32 bytes
};

}  // namespace aperture::translog
