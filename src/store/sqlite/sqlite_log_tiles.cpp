#include "store/sqlite/sqlite_log_tiles.h"

#include <algorithm>
#include <array>
#include <string>
#include <vector>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::store::log_tiles {
namespace {

constexpr int kIndexShift = 42;  // row id = tile level * 2^42 + tile index; 2^48 leaves at most

// hashes_in_row[w] for w = 0..256, and the width of each possible row size.
struct RowSizes {
  std::array<int, kWidth + 1> hashes{};
  std::array<int16_t, 2 * kWidth + 1> width{};
  constexpr RowSizes() {
    for (auto& w : width) w = -1;
    for (int w = 0; w <= kWidth; ++w) {
      for (int l = 0; l < kHeight; ++l) hashes[w] += w >> l;
      width[hashes[w]] = static_cast<int16_t>(w);
    }
  }
};
constexpr RowSizes kSizes;

// Offset, in hashes, of `sub_level` in a row of `width`.
int LevelOffset(int width, int sub_level) {
  int offset = 0;
  for (int l = 0; l < sub_level; ++l) offset += width >> l;
  return offset;
}

// Migration 2's node keys: level * 2^48 + index.
int64_t OldNodeKey(int level, int64_t index) { return (int64_t{level} << 48) | index; }

// Tiles converted per pass: 1,024 rows of at most 4 KB each.
constexpr int64_t kConvertChunk = 1024;

}  // namespace

int64_t RowId(int tile_level, int64_t index) { return (int64_t{tile_level} << kIndexShift) | index; }

Place PlaceOf(LogNodeId id) {
  const int tile_level = id.level / kHeight;
  const int sub_level = id.level % kHeight;
  const int shift = kHeight - sub_level;  // nodes of this level per tile: 2^shift
  return Place{RowId(tile_level, id.index >> shift), sub_level,
               static_cast<int>(id.index & ((int64_t{1} << shift) - 1))};
}

int HashesInRow(int width) { return width < 0 || width > kWidth ? 0 : kSizes.hashes[width]; }

int WidthOfRow(size_t bytes) {
  if (bytes % kHashSize != 0 || bytes / kHashSize >= kSizes.width.size()) return -1;
  return kSizes.width[bytes / kHashSize];
}

std::string_view HashAt(std::string_view row, int sub_level, int position) {
  const int width = WidthOfRow(row.size());
  if (width <= 0 || sub_level < 0 || sub_level >= kHeight || position < 0 || position >= (width >> sub_level)) {
    return {};
  }
  return row.substr(static_cast<size_t>(LevelOffset(width, sub_level) + position) * kHashSize, kHashSize);
}

std::string_view LevelOf(std::string_view row, int sub_level) {
  const int width = WidthOfRow(row.size());
  if (width <= 0 || sub_level < 0 || sub_level >= kHeight) return {};
  return row.substr(static_cast<size_t>(LevelOffset(width, sub_level)) * kHashSize,
                    static_cast<size_t>(width >> sub_level) * kHashSize);
}

absl::Status ConvertNodesToTiles(SqliteDb& db) {
  int64_t size = 0;
  {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT size FROM log_head WHERE id = 1"));
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (row) size = stmt.Int(0);
  }
  // Level by level, a chunk of tiles at a time: each tile's row is its
  // levels' node ranges concatenated, read in key order.
  for (int tile_level = 0; tile_level * kHeight <= kMaxTreeLevel && (size >> (tile_level * kHeight)) > 0;
       ++tile_level) {
    const int64_t base = size >> (tile_level * kHeight);  // nodes at the tiles' base level
    const int64_t tiles = (base + kWidth - 1) / kWidth;
    for (int64_t first = 0; first < tiles; first += kConvertChunk) {
      const int64_t last = std::min(tiles, first + kConvertChunk);
      std::vector<std::string> rows(static_cast<size_t>(last - first));
      for (int sub = 0; sub < kHeight && tile_level * kHeight + sub <= kMaxTreeLevel; ++sub) {
        const int level = tile_level * kHeight + sub;
        const int shift = kHeight - sub;
        const int64_t begin = first << shift;
        const int64_t end = std::min(base >> sub, last << shift);
        if (begin >= end) continue;
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT id, hash FROM log_nodes WHERE id >= ? AND id < ? ORDER BY id"));
        stmt.Bind(1, OldNodeKey(level, begin)).Bind(2, OldNodeKey(level, end));
        int64_t next = begin;
        for (;;) {
          ASSIGN_OR_RETURN(bool row, stmt.Step());
          if (!row) break;
          const std::string hash = stmt.Text(1);
          if (stmt.Int(0) != OldNodeKey(level, next) || hash.size() != kHashSize) break;
          rows[static_cast<size_t>((next >> shift) - first)] += hash;
          ++next;
        }
        if (next != end) {
          return absl::DataLossError(
              fmt::format("log_nodes lacks the hash of level {} index {} (or holds a malformed one) in a tree of {} "
                          "leaves; the log's tables were altered",
                          level, next, size));
        }
      }
      for (int64_t t = first; t < last; ++t) {
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO log_tiles (id, hashes) VALUES (?, ?)"));
        RETURN_IF_ERROR(stmt.Bind(1, RowId(tile_level, t)).BindBlob(2, rows[static_cast<size_t>(t - first)]).Run());
      }
    }
  }
  // The hashes are public, so the freed pages need no zeroing (secure_delete
  // would write every one of them again).
  RETURN_IF_ERROR(db.Exec("PRAGMA secure_delete=OFF"));
  absl::Status dropped = db.Exec("DROP TABLE log_nodes");
  RETURN_IF_ERROR(db.Exec("PRAGMA secure_delete=ON"));
  return dropped;
}

}  // namespace aperture::store::log_tiles
