#include "distribution/ecdsa_key.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstring>

#include "core/hash.h"

namespace aperture::distribution {
namespace {

// PEM bodies larger than this are not keys.
constexpr size_t kMaxPemBytes = 16 * 1024;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;

PkeyPtr Own(EVP_PKEY* key) { return PkeyPtr(key, PkeyFree()); }

BioPtr ReadBio(std::string_view bytes) { return BioPtr(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size()))); }

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return n > 0 ? std::string(data, static_cast<size_t>(n)) : std::string();
}

// Only EC keys on P-256 are accepted.
absl::Status CheckP256(EVP_PKEY* key) {
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) return absl::InvalidArgumentError("the key is not an ECDSA key");
  char curve[64] = {0};
  size_t length = 0;
  if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, curve, sizeof curve, &length) != 1 ||
      std::strcmp(curve, "prime256v1") != 0) {
    return absl::InvalidArgumentError("the key is not on the P-256 curve (prime256v1)");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> PublicPemOf(EVP_PKEY* key) {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key) != 1) return absl::InternalError("cannot write the public key");
  return BioText(out.get());
}

}  // namespace

void PkeyFree::operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }

absl::StatusOr<EcdsaP256Signer> EcdsaP256Signer::Generate() {
  EVP_PKEY* raw = EVP_EC_gen("P-256");
  if (raw == nullptr) return absl::InternalError("cannot generate an ECDSA P-256 key");
  EcdsaP256Signer signer;
  signer.key_ = Own(raw);
  absl::StatusOr<std::string> pem = PublicPemOf(raw);
  if (!pem.ok()) return pem.status();
  signer.public_pem_ = *std::move(pem);
  return signer;
}

absl::StatusOr<EcdsaP256Signer> EcdsaP256Signer::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) return absl::InvalidArgumentError("the private key file is too large to be a key");
  BioPtr in = ReadBio(pem);
  EVP_PKEY* raw = in ? PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr) : nullptr;
  if (raw == nullptr) return absl::InvalidArgumentError("not a PEM private key");
  EcdsaP256Signer signer;
  signer.key_ = Own(raw);
  if (absl::Status s = CheckP256(raw); !s.ok()) return s;
  absl::StatusOr<std::string> public_pem = PublicPemOf(raw);
  if (!public_pem.ok()) return public_pem.status();
  signer.public_pem_ = *std::move(public_pem);
  return signer;
}

absl::StatusOr<std::string> EcdsaP256Signer::PrivatePem() const {
  BioPtr out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PrivateKey(out.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError("cannot write the private key");
  }
  return BioText(out.get());
}

absl::StatusOr<std::string> EcdsaP256Signer::Sign(std::string_view message) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t length = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &length, reinterpret_cast<const unsigned char*>(message.data()),
                     message.size()) != 1) {
    return absl::InternalError("cannot start an ECDSA signature");
  }
  std::string signature(length, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &length,
                     reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
    return absl::InternalError("ECDSA signing failed");
  }
  signature.resize(length);
  return signature;
}

absl::StatusOr<EcdsaP256Verifier> EcdsaP256Verifier::FromPem(std::string_view pem) {
  if (pem.size() > kMaxPemBytes) return absl::InvalidArgumentError("the public key file is too large to be a key");
  BioPtr in = ReadBio(pem);
  EVP_PKEY* raw = in ? PEM_read_bio_PUBKEY(in.get(), nullptr, nullptr, nullptr) : nullptr;
  if (raw == nullptr) {
    return absl::InvalidArgumentError("not a PEM public key (expected -----BEGIN PUBLIC KEY-----)");
  }
  EcdsaP256Verifier verifier;
  verifier.key_ = Own(raw);
  if (absl::Status s = CheckP256(raw); !s.ok()) return s;
  absl::StatusOr<std::string> public_pem = PublicPemOf(raw);
  if (!public_pem.ok()) return public_pem.status();
  verifier.public_pem_ = *std::move(public_pem);
  return verifier;
}

std::string EcdsaP256Verifier::Hint() const { return Sha256Hex(public_pem_); }

bool EcdsaP256Verifier::Verify(std::string_view message, std::string_view der_signature) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(der_signature.data()), der_signature.size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

}  // namespace aperture::distribution
