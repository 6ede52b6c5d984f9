// Fuzzes the tlog-tiles path parser (the tile routes take these paths from
// callers): any path gives a TileRef or an error, and a parsed path is the
// one TilePath writes for it (one spelling per tile).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "translog/tile_path.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view path(reinterpret_cast<const char*>(data), size);
  auto tile = aperture::translog::ParseTilePath(path);
  if (!tile.ok()) return 0;
  if (tile->index < 0 || tile->width < 1 || tile->width > aperture::translog::kTileWidth || tile->level < 0) {
    __builtin_trap();
  }
  if (aperture::translog::TilePath(*tile) != path) __builtin_trap();
  return 0;
}
