// Fuzzes the TOML config parser: any text gives a Config or an error.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)aperture::ParseConfig(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  return 0;
}
