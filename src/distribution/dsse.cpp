#include "distribution/dsse.h"

#include "core/base64.h"
#include "fmt/format.h"

namespace aperture::distribution {
namespace {

constexpr size_t kMaxSignatures = 16;

absl::StatusOr<std::string> Base64Field(const Json& obj, const char* field, const char* where) {
  auto it = obj.find(field);
  if (it == obj.end() || !it->is_string()) {
    return absl::InvalidArgumentError(fmt::format("{} has no '{}' string", where, field));
  }
  std::optional<std::string> bytes = Base64Decode(it->get_ref<const std::string&>());
  if (!bytes) return absl::InvalidArgumentError(fmt::format("{}'s '{}' is not standard base64", where, field));
  return *std::move(bytes);
}

}  // namespace

std::string Pae(std::string_view payload_type, std::string_view payload) {
  return fmt::format("DSSEv1 {} {} {} ", payload_type.size(), payload_type, payload.size()).append(payload);
}

Json EnvelopeJson(const DsseEnvelope& envelope) {
  Json signatures = Json::array();
  for (const DsseSignature& s : envelope.signatures) {
    Json sig = {{"sig", Base64Encode(s.sig)}};
    if (!s.keyid.empty()) sig["keyid"] = s.keyid;
    signatures.push_back(std::move(sig));
  }
  return {{"payload", Base64Encode(envelope.payload)},
          {"payloadType", envelope.payload_type},
          {"signatures", std::move(signatures)}};
}

absl::StatusOr<DsseEnvelope> ParseEnvelope(const Json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("the DSSE envelope is not a JSON object");
  DsseEnvelope envelope;
  auto type = json.find("payloadType");
  if (type == json.end() || !type->is_string()) {
    return absl::InvalidArgumentError("the DSSE envelope has no 'payloadType' string");
  }
  envelope.payload_type = type->get<std::string>();
  absl::StatusOr<std::string> payload = Base64Field(json, "payload", "the DSSE envelope");
  if (!payload.ok()) return payload.status();
  envelope.payload = *std::move(payload);
  auto signatures = json.find("signatures");
  if (signatures == json.end() || !signatures->is_array() || signatures->empty()) {
    return absl::InvalidArgumentError("the DSSE envelope has no signatures");
  }
  if (signatures->size() > kMaxSignatures) {
    return absl::InvalidArgumentError(fmt::format("the DSSE envelope has more than {} signatures", kMaxSignatures));
  }
  for (const Json& s : *signatures) {
    if (!s.is_object()) return absl::InvalidArgumentError("a DSSE signature is not a JSON object");
    DsseSignature signature;
    absl::StatusOr<std::string> sig = Base64Field(s, "sig", "a DSSE signature");
    if (!sig.ok()) return sig.status();
    signature.sig = *std::move(sig);
    auto keyid = s.find("keyid");
    if (keyid != s.end()) {
      if (!keyid->is_string()) return absl::InvalidArgumentError("a DSSE signature's 'keyid' is not a string");
      signature.keyid = keyid->get<std::string>();
    }
    envelope.signatures.push_back(std::move(signature));
  }
  return envelope;
}

absl::StatusOr<DsseEnvelope> SignEnvelope(std::string payload_type, std::string payload,
                                          const EcdsaP256Signer& signer) {
  DsseEnvelope envelope{std::move(payload_type), std::move(payload), {}};
  absl::StatusOr<std::string> sig = signer.Sign(Pae(envelope.payload_type, envelope.payload));
  if (!sig.ok()) return sig.status();
  absl::StatusOr<EcdsaP256Verifier> public_key = EcdsaP256Verifier::FromPem(signer.PublicPem());
  if (!public_key.ok()) return public_key.status();
  envelope.signatures.push_back({public_key->Hint(), *std::move(sig)});
  return envelope;
}

absl::Status VerifyEnvelope(const DsseEnvelope& envelope, const EcdsaP256Verifier& key) {
  const std::string signed_bytes = Pae(envelope.payload_type, envelope.payload);
  for (const DsseSignature& s : envelope.signatures) {
    if (key.Verify(signed_bytes, s.sig)) return absl::OkStatus();
  }
  return absl::InvalidArgumentError("the signature does not verify with the given key (wrong key, or altered content)");
}

}  // namespace aperture::distribution
