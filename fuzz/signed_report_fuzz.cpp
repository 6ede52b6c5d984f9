// Fuzzes what `aperture report verify` reads from outside: a signed
// transparency report (the JSON of GET /v1/models/{id}/report), against a
// fixed key, and the DSSE envelope parser behind it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "distribution/dsse.h"
#include "report/signed_report.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* key =
      new aperture::distribution::EcdsaP256Verifier(*aperture::distribution::EcdsaP256Verifier::FromPem(
          aperture::distribution::EcdsaP256Signer::Generate()->PublicPem()));
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)aperture::report::VerifySignedReport(text, *key);
  auto json = aperture::ParseJson(text);
  if (json.ok()) (void)aperture::distribution::ParseEnvelope(*json);
  return 0;
}
