// Fuzzes what every JSON request body goes through: the depth-guarded parse
// and the OpenAI parameter parsers (chat, completions, embeddings).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/openai/completion_params.h"
#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto json = aperture::ParseJson(text);
  if (!json.ok() || !json->is_object()) return 0;
  (void)aperture::CanonicalJson(*json);
  (void)aperture::ParseCompletionParams(*json, true);
  (void)aperture::ParseCompletionParams(*json, false);
  (void)aperture::ParseEmbeddingParams(*json);
  return 0;
}
