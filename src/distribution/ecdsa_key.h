// ECDSA P-256 keys for signing manifests and reports (OpenSSL): the key kind
// the OpenSSF model-signing tools verify with `verify key`. Private keys are
// kept as unencrypted PKCS#8 PEM, public keys as SubjectPublicKeyInfo PEM
// ("-----BEGIN PUBLIC KEY-----"). Signatures are ECDSA over SHA-256 of the
// message, DER-encoded (what OpenSSL, Python's cryptography and Node's
// crypto produce and accept by default).
//
// Usage:
//   ASSIGN_OR_RETURN(EcdsaP256Signer signer, EcdsaP256Signer::FromPem(pem));
//   ASSIGN_OR_RETURN(std::string sig, signer.Sign(message));
//   ASSIGN_OR_RETURN(EcdsaP256Verifier v, EcdsaP256Verifier::FromPem(signer.PublicPem()));
//   bool ok = v.Verify(message, sig);
//
// Errors: a PEM that is not an EC key on P-256 is refused with a message.
// Thread-safety: both classes are immutable after creation and thread-safe
// (each call uses its own OpenSSL context).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

typedef struct evp_pkey_st EVP_PKEY;

namespace aperture::distribution {

struct PkeyFree {
  void operator()(EVP_PKEY* key) const;
};
using PkeyPtr = std::shared_ptr<EVP_PKEY>;

class EcdsaP256Signer {
 public:
  // A new random key.
  static absl::StatusOr<EcdsaP256Signer> Generate();
  // A private key in PEM (PKCS#8 or SEC1 "EC PRIVATE KEY").
  static absl::StatusOr<EcdsaP256Signer> FromPem(std::string_view pem);

  // Unencrypted PKCS#8 PEM: the secret, for the data directory only.
  absl::StatusOr<std::string> PrivatePem() const;
  // The public key as SubjectPublicKeyInfo PEM.
  const std::string& PublicPem() const { return public_pem_; }
  // DER-encoded ECDSA signature over SHA-256(message).
  absl::StatusOr<std::string> Sign(std::string_view message) const;

 private:
  EcdsaP256Signer() = default;
  PkeyPtr key_;
  std::string public_pem_;
};

class EcdsaP256Verifier {
 public:
  // A public key in PEM (SubjectPublicKeyInfo) on P-256.
  static absl::StatusOr<EcdsaP256Verifier> FromPem(std::string_view pem);

  const std::string& PublicPem() const { return public_pem_; }
  // The key hint of the model-signing format: SHA-256 (hex) of PublicPem().
  std::string Hint() const;
  // True when `der_signature` is a valid signature of `message` by this key.
  bool Verify(std::string_view message, std::string_view der_signature) const;

 private:
  EcdsaP256Verifier() = default;
  PkeyPtr key_;
  std::string public_pem_;
};

}  // namespace aperture::distribution
