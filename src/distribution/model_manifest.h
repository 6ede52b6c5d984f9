// Signed model manifests in the OpenSSF model-signing v1.0 format, so that
// `model_signing verify key --signature model.sig --public_key key.pub DIR`
// checks a model downloaded from Aperture:
//
//   Sigstore bundle v0.3 (JSON; verificationMaterial.publicKey.hint = SHA-256
//   of the signing key's public PEM, no transparency-log entries)
//   └ DSSE envelope, payloadType application/vnd.in-toto+json, one ECDSA
//     P-256 signature over the PAE
//     └ in-toto Statement v1: one subject {name: the model, digest: {sha256:
//       root}}, predicateType https://model_signing/signature/v1.0,
//       predicate {serialization: {method: files, hash_type: sha256,
//       allow_symlinks: false, ignore_paths: [model.sig]}, resources: [{name,
//       algorithm: sha256, digest}] in name order}
//
// The root digest is SHA-256 over the files' raw 32-byte digests in name
// (byte) order, which is how a verifier recomputes it from the resources.
//
// Verification parses input from outside (a file given to `aperture manifest
// verify`): the bundle is bounded (16 MiB, 100000 resources), every field is
// checked for type and form, and errors say what is wrong.
//
// Usage:
//   ASSIGN_OR_RETURN(ModelManifest m, MakeManifest("tiny", {{"tiny.gguf", hex}, ...}));
//   ASSIGN_OR_RETURN(std::string bundle, SignManifestBundle(m, signer));
//   ASSIGN_OR_RETURN(ModelManifest checked, VerifyManifestBundle(bundle, verifier));
//   for (const FileCheck& c : CompareFiles(checked, actual_files)) ...
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "distribution/ecdsa_key.h"

namespace aperture::distribution {

inline constexpr char kSignatureFileName[] = "model.sig";
inline constexpr char kInTotoPayloadType[] = "application/vnd.in-toto+json";
inline constexpr char kStatementType[] = "https://in-toto.io/Statement/v1";
inline constexpr char kModelSigningPredicate[] = "https://model_signing/signature/v1.0";
inline constexpr char kBundleMediaType[] = "application/vnd.dev.sigstore.bundle.v0.3+json";
inline constexpr size_t kMaxBundleBytes = size_t{16} << 20;
inline constexpr size_t kMaxManifestFiles = 100000;

struct ManifestFile {
  std::string name;    // relative POSIX path
  std::string sha256;  // lower-case hex
  bool operator==(const ManifestFile&) const = default;
};

struct ModelManifest {
  std::string model_name;
  std::vector<ManifestFile> files;  // sorted by name, names unique
  std::string root_sha256;          // lower-case hex
};

// Sorts the files, checks names (non-empty, unique, at most 1024 bytes, no
// NUL, not the signature file) and digests (64 hex digits), computes the root.
absl::StatusOr<ModelManifest> MakeManifest(std::string model_name, std::vector<ManifestFile> files);

// The in-toto statement's bytes (canonical JSON) that the envelope carries.
std::string StatementPayload(const ModelManifest& manifest);

// The Sigstore bundle (JSON text) of `manifest` signed by `signer`.
absl::StatusOr<std::string> SignManifestBundle(const ModelManifest& manifest, const EcdsaP256Signer& signer);

// Checks a bundle against `key` (media type, key hint, signature over the
// DSSE PAE, statement type, predicate type, serialization method and hash,
// every resource, the root digest recomputed from the resources) and returns
// the manifest it signs. InvalidArgument says what failed.
absl::StatusOr<ModelManifest> VerifyManifestBundle(std::string_view bundle_json, const EcdsaP256Verifier& key);

// The manifest an in-toto statement (the envelope's payload) describes, with
// every check but the signature's. VerifyManifestBundle uses it once the
// signature holds; never trust its result without that.
absl::StatusOr<ModelManifest> ParseManifestStatement(std::string_view payload);

// One file compared with a verified manifest.
struct FileCheck {
  enum class Result { kMatches, kDiffers, kNotInManifest, kNotGiven };
  std::string name;
  Result result = Result::kMatches;
  std::string expected;  // the manifest's digest ("" when not in it)
  std::string actual;    // the file's digest ("" when not given)
};

// Every manifest file and every given file, in name order.
std::vector<FileCheck> CompareFiles(const ModelManifest& manifest, const std::vector<ManifestFile>& actual);

}  // namespace aperture::distribution
