#include "report/signed_report.h"

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::report {

Json SignedReportJson(const SignedReport& r) {
  return {{"report", r.report},
          {"dsse", distribution::EnvelopeJson(r.envelope)},
          {"verification",
           {{"key", "/v1/signing-key"},
            {"key_hint", r.key_hint},
            {"algorithm", "ECDSA P-256 with SHA-256 over the DSSE pre-authentication encoding of the payload"},
            {"how", "aperture report verify --report REPORT.json --key signing-key.pem"}}}};
}

absl::StatusOr<Json> VerifySignedReport(std::string_view text, const distribution::EcdsaP256Verifier& key) {
  if (text.size() > kMaxSignedReportBytes) {
    return absl::InvalidArgumentError(fmt::format("the report is larger than {} bytes", kMaxSignedReportBytes));
  }
  absl::StatusOr<Json> parsed = ParseJson(text);
  if (!parsed.ok() || !parsed->is_object()) return absl::InvalidArgumentError("the report is not a JSON object");
  auto dsse = parsed->find("dsse");
  if (dsse == parsed->end()) return absl::InvalidArgumentError("the report has no 'dsse' envelope to verify");
  ASSIGN_OR_RETURN(distribution::DsseEnvelope envelope, distribution::ParseEnvelope(*dsse));
  if (envelope.payload_type != kReportPayloadType) {
    return absl::InvalidArgumentError(
        fmt::format("the envelope's payloadType is '{}', not {}", envelope.payload_type, kReportPayloadType));
  }
  RETURN_IF_ERROR(distribution::VerifyEnvelope(envelope, key));
  absl::StatusOr<Json> signed_report = ParseJson(envelope.payload);
  if (!signed_report.ok()) return absl::InvalidArgumentError("the signed payload is not JSON");
  auto shown = parsed->find("report");
  if (shown != parsed->end() && CanonicalJson(*shown) != envelope.payload) {
    return absl::InvalidArgumentError("the readable 'report' differs from the signed payload; trust only the payload");
  }
  return *signed_report;
}

}  // namespace aperture::report
