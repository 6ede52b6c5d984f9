// How the SQLite log store keeps the tree's hashes (migration 7): in tiles of
// 6 levels. The row of tile level T, index N holds the hashes of tree level
// 6T, nodes 64N .. 64N + w - 1, followed by the levels 6T+1 .. 6T+5 above
// them (w >> 1, w >> 2, ... hashes): at most 126 hashes, 4,032 bytes, so a
// row fits in one 4 KB SQLite page (a C2SP tile of 8 levels, 16 KB, would
// span four, read one after the other). A proof's path through a tile is
// one page read; a C2SP tile as served is four consecutive rows' base levels.
#pragma once

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "aperture/log_store.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store::log_tiles {

inline constexpr int kHeight = 6;  // tree levels per tile level
inline constexpr int kWidth = 64;
inline constexpr int kHashSize = 32;
inline constexpr int kMaxTreeLevel = 62;

// Where a full subtree's hash is kept: the row (tile) and, in it, the tree
// level above the tile's base (0..7) and the position at that level.
struct Place {
  int64_t row = 0;
  int sub_level = 0;
  int position = 0;
};

// The row id of tile (tile_level, index): tile_level * 2^42 + index.
int64_t RowId(int tile_level, int64_t index);
Place PlaceOf(LogNodeId id);
// The row id of the tile holding node `index` of tree `level`.
inline int64_t RowOf(int level, int64_t index) { return PlaceOf({level, index}).row; }

// Hashes in a row whose base level has `width` of them (1..64).
int HashesInRow(int width);
// The width of a row holding `bytes` bytes; -1 if no width gives that size.
int WidthOfRow(size_t bytes);
// The hash at (sub_level, position) of a row, or an empty view if the row
// does not hold it yet.
std::string_view HashAt(std::string_view row, int sub_level, int position);
// The hashes of `sub_level` in a row, concatenated.
std::string_view LevelOf(std::string_view row, int sub_level);

// Migration 7's code: fills log_tiles from migration 2's log_nodes for the
// tree the head names, then drops log_nodes. Runs inside the migration's
// transaction.
absl::Status ConvertNodesToTiles(SqliteDb& db);

}  // namespace aperture::store::log_tiles
