// Fuzzes the checkpoint parser (what `log verify` reads from a server): any
// text gives a Checkpoint or an error, and a parsed checkpoint formats back
// to the same text (the format is strict: one spelling per checkpoint).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "translog/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto checkpoint = aperture::translog::ParseCheckpoint(text);
  if (!checkpoint.ok()) return 0;
  if (checkpoint->size < 0) __builtin_trap();
  if (aperture::translog::FormatCheckpoint(*checkpoint) != text) __builtin_trap();
  return 0;
}
