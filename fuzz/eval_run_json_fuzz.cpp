// Fuzzes what `eval run --url` reads from a server: an evaluation run's
// JSON, which another process sends and so may be anything. Any input is
// an EvalRunReport or an error, never an exception.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/json.h"
#include "release/release_json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto json = aperture::ParseJson(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!json.ok()) return 0;
  auto report = aperture::ReadEvalRunJson(*json);
  if (report.ok() && (report->done < 0 || report->total < 0)) __builtin_trap();
  return 0;
}
