#include "translog/note.h"

#include <sodium.h>

#include <set>
#include <utility>

#include "core/base64.h"
#include "core/random.h"
#include "fmt/format.h"

namespace aperture::translog {
namespace {

constexpr std::string_view kSigPrefix = "\xE2\x80\x94 ";  // U+2014 EM DASH, space
constexpr int kMaxSignatures = 100;

// Decodes one UTF-8 sequence at s[i]; returns its length and sets `rune`, or
// 0 for an invalid sequence (overlong forms, surrogates, beyond U+10FFFF).
size_t DecodeRune(std::string_view s, size_t i, uint32_t& rune) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[i + k]); };
  const size_t left = s.size() - i;
  const uint8_t c = b(0);
  if (c < 0x80) {
    rune = c;
    return 1;
  }
  size_t n = 0;
  uint32_t min = 0;
  if ((c & 0xE0) == 0xC0) {
    n = 2, rune = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, rune = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, rune = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (left < n) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    rune = (rune << 6) | (b(k) & 0x3F);
  }
  if (rune < min || rune > 0x10FFFF || (rune >= 0xD800 && rune <= 0xDFFF)) return 0;
  return n;
}

// Go's unicode.IsSpace.
bool IsUnicodeSpace(uint32_t r) {
  switch (r) {
    case '\t':
    case '\n':
    case '\v':
    case '\f':
    case '\r':
    case ' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
      return true;
    default:
      return r >= 0x2000 && r <= 0x200A;
  }
}

// Valid UTF-8 with no ASCII control characters other than newline.
bool IsValidNoteText(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    uint32_t r = 0;
    const size_t n = DecodeRune(s, i, r);
    if (n == 0 || (r < 0x20 && r != '\n')) return false;
    i += n;
  }
  return true;
}

uint32_t BigEndian32(std::string_view b) {
  return (uint32_t{static_cast<uint8_t>(b[0])} << 24) | (uint32_t{static_cast<uint8_t>(b[1])} << 16) |
         (uint32_t{static_cast<uint8_t>(b[2])} << 8) | uint32_t{static_cast<uint8_t>(b[3])};
}

absl::Status Malformed(std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("malformed signed note: {}", why));
}

}  // namespace

bool IsValidKeyName(std::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size();) {
    uint32_t r = 0;
    const size_t n = DecodeRune(name, i, r);
    if (n == 0 || r == '+' || IsUnicodeSpace(r)) return false;
    i += n;
  }
  return true;
}

uint32_t NoteKeyHash(std::string_view name, std::string_view alg_and_key) {
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(name.data()), name.size());
  const unsigned char newline = '\n';
  crypto_hash_sha256_update(&st, &newline, 1);
  crypto_hash_sha256_update(&st, reinterpret_cast<const unsigned char*>(alg_and_key.data()), alg_and_key.size());
  unsigned char sum[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&st, sum);
  return BigEndian32(std::string_view(reinterpret_cast<const char*>(sum), 4));
}

std::string Ed25519VerifierKey(std::string_view name, std::string_view public_key) {
  const std::string key = std::string(1, static_cast<char>(kAlgEd25519)) + std::string(public_key);
  return fmt::format("{}+{:08x}+{}", name, NoteKeyHash(name, key), Base64Encode(key));
}

// ---- NoteSigner

absl::StatusOr<NoteSigner> NoteSigner::Create(std::string name, std::string_view secret_key) {
  InitCrypto();
  if (!IsValidKeyName(name)) {
    return absl::InvalidArgumentError(
        fmt::format("'{}' is not a valid key name: it must be non-empty, without spaces or '+'", name));
  }
  if (secret_key.size() != crypto_sign_SECRETKEYBYTES) {
    return absl::InvalidArgumentError(
        fmt::format("an Ed25519 secret key is {} bytes, got {}", crypto_sign_SECRETKEYBYTES, secret_key.size()));
  }
  NoteSigner s;
  s.name_ = std::move(name);
  s.secret_key_ = std::string(secret_key);
  s.key_hash_ = NoteKeyHash(s.name_, std::string(1, static_cast<char>(kAlgEd25519)) + s.public_key());
  return s;
}

absl::StatusOr<NoteSigner> NoteSigner::FromSeed(std::string name, std::string_view seed) {
  InitCrypto();
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return absl::InvalidArgumentError(fmt::format("an Ed25519 seed is {} bytes", crypto_sign_SEEDBYTES));
  }
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>(seed.data()));
  auto signer = Create(std::move(name), std::string_view(reinterpret_cast<const char*>(sk), sizeof sk));
  sodium_memzero(sk, sizeof sk);
  return signer;
}

NoteSigner::NoteSigner(const NoteSigner&) = default;
NoteSigner& NoteSigner::operator=(const NoteSigner&) = default;

NoteSigner::~NoteSigner() {
  if (!secret_key_.empty()) sodium_memzero(secret_key_.data(), secret_key_.size());
}

std::string NoteSigner::public_key() const { return secret_key_.substr(crypto_sign_SEEDBYTES); }

std::string NoteSigner::VerifierKey() const { return Ed25519VerifierKey(name_, public_key()); }

absl::StatusOr<std::string> NoteSigner::Sign(std::string_view text) const {
  if (text.empty() || text.back() != '\n' || text.find("\n\n") != std::string_view::npos || text.front() == '\n' ||
      !IsValidNoteText(text)) {
    return absl::InvalidArgumentError(
        "a note text must be UTF-8 without control characters, end in a newline and contain no blank line");
  }
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                       reinterpret_cast<const unsigned char*>(secret_key_.data()));
  std::string blob;
  blob.push_back(static_cast<char>(key_hash_ >> 24));
  blob.push_back(static_cast<char>(key_hash_ >> 16));
  blob.push_back(static_cast<char>(key_hash_ >> 8));
  blob.push_back(static_cast<char>(key_hash_));
  blob.append(reinterpret_cast<const char*>(sig), sizeof sig);
  return fmt::format("{}\n{}{} {}\n", text, kSigPrefix, name_, Base64Encode(blob));
}

// ---- NoteVerifier

absl::StatusOr<NoteVerifier> NoteVerifier::Parse(std::string_view vkey) {
  InitCrypto();
  const size_t plus1 = vkey.find('+');
  const size_t plus2 = plus1 == std::string_view::npos ? plus1 : vkey.find('+', plus1 + 1);
  if (plus2 == std::string_view::npos) {
    return absl::InvalidArgumentError("a verifier key has the form name+hash+base64key");
  }
  const std::string_view name = vkey.substr(0, plus1);
  const std::string_view hash_hex = vkey.substr(plus1 + 1, plus2 - plus1 - 1);
  const std::optional<std::string> key = Base64Decode(vkey.substr(plus2 + 1));
  if (!IsValidKeyName(name)) return absl::InvalidArgumentError("the verifier key's name is not valid");
  uint32_t hash = 0;
  bool hex_ok = hash_hex.size() == 8;
  for (char c : hash_hex) {
    const int v = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
    if (v < 0) hex_ok = false;
    hash = (hash << 4) | static_cast<uint32_t>(v & 0xF);
  }
  if (!hex_ok) return absl::InvalidArgumentError("the verifier key's hash must be 8 hexadecimal digits");
  if (!key || key->empty()) return absl::InvalidArgumentError("the verifier key's key is not valid base64");
  if (static_cast<uint8_t>((*key)[0]) != kAlgEd25519) {
    return absl::InvalidArgumentError(fmt::format(
        "the verifier key uses algorithm {:#04x}; only Ed25519 (0x01) is supported", static_cast<uint8_t>((*key)[0])));
  }
  if (key->size() != 1 + crypto_sign_PUBLICKEYBYTES) {
    return absl::InvalidArgumentError("an Ed25519 verifier key holds a 32-byte public key");
  }
  if (NoteKeyHash(name, *key) != hash) {
    return absl::InvalidArgumentError("the verifier key's hash does not match its name and key");
  }
  NoteVerifier v;
  v.name_ = std::string(name);
  v.key_hash_ = hash;
  v.public_key_ = key->substr(1);
  return v;
}

absl::StatusOr<std::string> NoteVerifier::Open(std::string_view note) const {
  if (!IsValidNoteText(note)) return Malformed("invalid UTF-8 or a control character");
  const size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Malformed("no blank line before the signatures");
  const std::string_view text = note.substr(0, split + 1);
  std::string_view sigs = note.substr(split + 2);
  if (sigs.empty() || sigs.back() != '\n') return Malformed("the signature block must end in a newline");

  std::set<std::string_view> seen_other;
  bool verified = false;
  int count = 0;
  while (!sigs.empty()) {
    const size_t nl = sigs.find('\n');
    std::string_view line = sigs.substr(0, nl);
    sigs.remove_prefix(nl + 1);
    if (!line.starts_with(kSigPrefix)) {
      return Malformed(fmt::format("'{}' after the blank line is not a signature line", line));
    }
    line.remove_prefix(kSigPrefix.size());
    const size_t space = line.find(' ');
    const std::string_view name = line.substr(0, space);
    const std::string_view b64 = space == std::string_view::npos ? std::string_view() : line.substr(space + 1);
    const std::optional<std::string> sig = Base64Decode(b64);
    if (!IsValidKeyName(name) || b64.empty() || !sig || sig->size() < 5) {
      return Malformed(fmt::format("bad signature line '{}'", line));
    }
    if (++count > kMaxSignatures) return Malformed("more than 100 signatures");
    const uint32_t hash = BigEndian32(*sig);
    if (name != name_ || hash != key_hash_) {
      seen_other.insert(line);
      continue;
    }
    if (verified) continue;  // a repeated signature by this key is ignored, as Go does
    if (sig->size() != 4 + crypto_sign_BYTES ||
        crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(sig->data() + 4),
                                    reinterpret_cast<const unsigned char*>(text.data()), text.size(),
                                    reinterpret_cast<const unsigned char*>(public_key_.data())) != 0) {
      return absl::PermissionDeniedError(fmt::format(
          "invalid signature for key {}+{:08x}: the note was altered or not signed by this key", name_, key_hash_));
    }
    verified = true;
  }
  if (!verified) {
    return absl::PermissionDeniedError(
        fmt::format("the note carries no signature by key {}+{:08x} ({} signature(s) by unknown keys)", name_,
                    key_hash_, seen_other.size()));
  }
  return std::string(text);
}

}  // namespace aperture::translog
