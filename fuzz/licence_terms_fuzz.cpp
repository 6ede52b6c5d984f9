// Fuzzes what owners send about a model: licence bodies (PUT .../licence),
// and openness declarations (PUT .../openness/{component}).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/json.h"
#include "distribution/licence_terms.h"
#include "openness/declaration.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = aperture::ParseJson(text);
  if (!json.ok()) return 0;
  (void)aperture::distribution::ParseLicenceTerms(*json);
  // The component comes from the path; take it from the body's "component" when there is one.
  std::string component = "data-card";
  if (json->is_object() && json->contains("component") && (*json)["component"].is_string()) {
    component = (*json)["component"].get<std::string>();
  }
  (void)aperture::openness::ParseDeclaration(component, *json);
  return 0;
}
