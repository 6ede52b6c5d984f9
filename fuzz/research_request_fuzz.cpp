// Fuzzes the research request parsers (/v1/research/run, /patch,
// /directions, and chat `interventions`) after the depth-guarded JSON parse.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json.h"
#include "research/spec_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = aperture::ParseJson(text);
  if (!json.ok()) return 0;
  (void)aperture::research::ParseRunSpec(*json);
  (void)aperture::research::ParsePatchSpec(*json);
  (void)aperture::research::ParseDirectionsSpec(*json);
  if (json->is_object() && json->contains("interventions")) {
    (void)aperture::research::ParseInterventions((*json)["interventions"], "interventions", false);
  }
  return 0;
}
