// Paths of the C2SP tlog-tiles layout: tile/<L>/<N>[.p/<W>] for hash tiles
// and tile/entries/<N>[.p/<W>] for entry bundles, N written as 3-digit path
// elements ("x001/x234/067").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aperture::translog {

inline constexpr int kTileHeight = 8;  // tree levels per tile level
inline constexpr int64_t kTileWidth = 256;

struct TileRef {
  bool entries = false;    // an entry bundle rather than a hash tile
  int level = 0;           // tile level (hash tiles); tree level is level * 8
  int64_t index = 0;       // N
  int width = kTileWidth;  // 1..256; below 256 is a partial tile
  bool operator==(const TileRef&) const = default;
};

// "tile/0/x001/234.p/5", "tile/entries/007".
std::string TilePath(const TileRef& t);
// Parses a path as TilePath writes it (and only so: no leading zeros, no
// empty partial tile); InvalidArgument otherwise.
absl::StatusOr<TileRef> ParseTilePath(std::string_view path);

}  // namespace aperture::translog
