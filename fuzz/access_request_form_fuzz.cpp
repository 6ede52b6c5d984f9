// Fuzzes access-request forms: an owner's field spec and a requester's
// answers, both JSON from outside (the admin API and POST
// /v1/access-requests). The input is the spec, a NUL byte, then the answers.
// A spec that validates must accept answers only by its own rules: never
// crash on any answers.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "access/access_service.h"
#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nul = input.find('\0');
  auto spec = aperture::ParseJson(input.substr(0, nul));
  if (!spec.ok()) return 0;
  const bool valid = aperture::ValidateRequestFieldSpec(*spec).ok();
  if (!valid || nul == std::string_view::npos) return 0;
  auto answers = aperture::ParseJson(input.substr(nul + 1));
  if (!answers.ok()) return 0;
  (void)aperture::ValidateRequestAnswers(*spec, *answers);
  return 0;
}
