// Fuzzes the Range and If-Range headers of downloads: whatever the bytes,
// a parsed range lies inside the file, and nothing overflows.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "distribution/byte_range.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 8) return 0;
  uint64_t file_size = 0;
  for (int i = 0; i < 8; ++i) file_size = (file_size << 8) | data[i];
  file_size >>= (data[0] % 64);  // small sizes too
  std::string_view header(reinterpret_cast<const char*>(data + 8), size - 8);
  aperture::distribution::RangeRequest r = aperture::distribution::ParseRange(header, file_size);
  if (r.kind == aperture::distribution::RangeKind::kSatisfiable) {
    if (r.first > r.last || r.last >= file_size) std::abort();
    (void)aperture::distribution::ContentRange(r, file_size);
  }
  (void)aperture::distribution::IfRangeAllows(header, "\"abc\"");
  return 0;
}
