// Fuzzes the eval suite parser (JSONL items, TOML sidecar or header line,
// regex targets): any input gives a Suite or an error. The first byte says
// whether there is a sidecar; with one, the text up to the first NUL byte is
// the sidecar and the rest the JSONL.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "evals/suite_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool with_sidecar = (data[0] & 1) != 0;
  std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::optional<std::string_view> sidecar;
  if (with_sidecar) {
    const size_t nul = text.find('\0');
    sidecar = text.substr(0, nul);
    text = nul == std::string_view::npos ? std::string_view() : text.substr(nul + 1);
  }
  (void)aperture::evals::ParseSuite(text, sidecar, "fuzz.jsonl");
  return 0;
}
