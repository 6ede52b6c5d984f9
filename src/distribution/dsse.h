// DSSE envelopes (Dead Simple Signing Envelope v1,
// github.com/secure-systems-lab/dsse): a payload, its type, and signatures
// over the pre-authentication encoding
//   PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
// (LEN: the byte length in ASCII decimal, no leading zeros), so a signature
// can never be replayed for another payload type. In JSON the payload and
// each signature are standard base64.
//
// Usage:
//   DsseEnvelope e{"application/vnd.in-toto+json", statement_bytes, {}};
//   e.signatures.push_back({"", *signer.Sign(Pae(e.payload_type, e.payload))});
//   Json j = EnvelopeJson(e);
//
// Thread-safety: pure functions and plain values.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/json.h"
#include "distribution/ecdsa_key.h"

namespace aperture::distribution {

struct DsseSignature {
  std::string keyid;  // may be empty
  std::string sig;    // raw signature bytes
};

struct DsseEnvelope {
  std::string payload_type;
  std::string payload;  // raw bytes
  std::vector<DsseSignature> signatures;
};

// The bytes a DSSE signature covers.
std::string Pae(std::string_view payload_type, std::string_view payload);

// {"payload": base64, "payloadType": ..., "signatures": [{"sig": base64[, "keyid"]}]}.
Json EnvelopeJson(const DsseEnvelope& envelope);
// Parses the JSON form strictly: every field of the right type, base64 that
// decodes, at least one signature (at most 16). InvalidArgument naming the
// field otherwise.
absl::StatusOr<DsseEnvelope> ParseEnvelope(const Json& json);

// An envelope of `payload` with one signature by `signer` over its PAE; the
// signature's keyid is the key's hint (SHA-256 of its public PEM).
absl::StatusOr<DsseEnvelope> SignEnvelope(std::string payload_type, std::string payload, const EcdsaP256Signer& signer);
// OK when some signature of `envelope` is by `key` over the PAE of its
// payload; InvalidArgument ("the signature does not verify ...") otherwise.
absl::Status VerifyEnvelope(const DsseEnvelope& envelope, const EcdsaP256Verifier& key);

}  // namespace aperture::distribution
