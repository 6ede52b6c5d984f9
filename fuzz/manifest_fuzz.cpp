// Fuzzes what `aperture manifest verify` reads from outside: a Sigstore
// bundle (checked against a fixed key) and, since random bytes never carry a
// valid signature, the in-toto statement parser behind it directly.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "distribution/model_manifest.h"

namespace {

const aperture::distribution::EcdsaP256Verifier& Key() {
  static const auto* key =
      new aperture::distribution::EcdsaP256Verifier(*aperture::distribution::EcdsaP256Verifier::FromPem(
          aperture::distribution::EcdsaP256Signer::Generate()->PublicPem()));
  return *key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  if (data[0] & 1) {
    (void)aperture::distribution::VerifyManifestBundle(text, Key());
  } else {
    auto manifest = aperture::distribution::ParseManifestStatement(text);
    if (manifest.ok()) (void)aperture::distribution::CompareFiles(*manifest, manifest->files);
  }
  return 0;
}
