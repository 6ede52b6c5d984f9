// A transparency report as signed: its canonical JSON is the payload of a
// DSSE envelope (payloadType kReportPayloadType) signed with the server's
// manifest key (ECDSA P-256, GET /v1/signing-key). Served as
// {"report": ..., "dsse": ..., "verification": ...}; `aperture report
// verify` checks it with VerifySignedReport.
//
// Usage:
//   ASSIGN_OR_RETURN(Json report, VerifySignedReport(text, key));
//
// Thread-safety: pure functions and a value type.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/json.h"
#include "distribution/dsse.h"
#include "distribution/ecdsa_key.h"

namespace aperture::report {

inline constexpr char kReportPayloadType[] = "application/vnd.aperture.transparency-report.v1+json";
inline constexpr size_t kMaxSignedReportBytes = size_t{16} << 20;

struct SignedReport {
  Json report;                          // what the payload says, for reading
  distribution::DsseEnvelope envelope;  // the signed canonical bytes
  std::string key_hint;                 // SHA-256 of the signing key's public PEM
};

// {"report": ..., "dsse": <envelope JSON>, "verification": {...}}.
Json SignedReportJson(const SignedReport& signed_report);

// Checks a signed report (the JSON above) against a public key and returns
// the report as signed. Outside input: bounded (16 MiB) and checked; the
// readable "report" must say what the payload says.
absl::StatusOr<Json> VerifySignedReport(std::string_view text, const distribution::EcdsaP256Verifier& key);

}  // namespace aperture::report
