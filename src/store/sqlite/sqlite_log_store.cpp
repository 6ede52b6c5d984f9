#include "store/sqlite/sqlite_log_store.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <span>
#include <thread>
#include <tuple>

#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/sqlite_log_tiles.h"

namespace aperture::store {
namespace {

// 2^48 leaves is far beyond any real log.
constexpr int64_t kMaxIndex = (int64_t{1} << 48) - 1;
// Leaf hashes and subjects are indexed per bucket of 2^12 leaves (migration 4).
constexpr int kBucketShift = 12;
constexpr int64_t kBucketSize = int64_t{1} << kBucketShift;

bool ValidNode(LogNodeId id) {
  return id.level >= 0 && id.level <= log_tiles::kMaxTreeLevel && id.index >= 0 && id.index <= kMaxIndex;
}

int64_t HashPrefix(std::string_view hash) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < hash.size(); ++i) v = (v << 8) | static_cast<uint8_t>(hash[i]);
  return static_cast<int64_t>(v);
}

// Memory-mapped reads spare a system call per page on the proof path.
absl::Status Tune(SqliteDb& db, bool writer) {
  RETURN_IF_ERROR(db.Exec("PRAGMA mmap_size=2147418112"));
  if (!writer) return db.Exec("PRAGMA cache_size=-16384");
  // Everything the log stores is published, so the pages an append frees
  // (the right-edge tiles it rewrites) need no zeroing: that would double
  // the pages each append writes.
  RETURN_IF_ERROR(db.Exec("PRAGMA secure_delete=OFF"));
  // Fewer, larger WAL checkpoints: each one is an fsync on the append path.
  RETURN_IF_ERROR(db.Exec("PRAGMA wal_autocheckpoint=8192"));
  return db.Exec("PRAGMA cache_size=-65536");
}

// Multi-row INSERTs: one statement per kRowsPerInsert rows costs far less
// than one per row, and appends are what the log does most.
constexpr size_t kRowsPerInsert = 64;

struct InsertSql {
  const char* head;     // "INSERT INTO t (a, b) VALUES "
  const char* one_row;  // "(?, ?)"
  int columns;
  std::string one;  // built once: the single-row and the multi-row forms
  std::string many;
};

InsertSql MakeInsert(const char* head, const char* row, int columns) {
  InsertSql sql{head, row, columns, std::string(head) + row, std::string(head)};
  for (size_t i = 0; i < kRowsPerInsert; ++i) sql.many += (i ? ", " : "") + std::string(row);
  return sql;
}

const InsertSql kEntries = MakeInsert("INSERT INTO log_entries (idx, entry) VALUES ", "(?, ?)", 2);
const InsertSql kLeafIndex =
    MakeInsert("INSERT OR IGNORE INTO log_leaf_index (bucket, prefix, idx) VALUES ", "(?, ?, ?)", 3);
const InsertSql kSubjects =
    MakeInsert("INSERT OR IGNORE INTO log_subjects (bucket, principal, idx) VALUES ", "(?, ?, ?)", 3);

// Inserts `count` rows, bind(statement, first column, row) binding each.
template <typename BindRow>
absl::Status InsertRows(SqliteDb& db, const InsertSql& sql, size_t count, BindRow bind) {
  size_t i = 0;
  for (; i + kRowsPerInsert <= count; i += kRowsPerInsert) {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql.many.c_str()));
    for (size_t r = 0; r < kRowsPerInsert; ++r) bind(stmt, static_cast<int>(r) * sql.columns + 1, i + r);
    RETURN_IF_ERROR(stmt.Run());
  }
  for (; i < count; ++i) {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare(sql.one.c_str()));
    bind(stmt, 1, i);
    RETURN_IF_ERROR(stmt.Run());
  }
  return absl::OkStatus();
}

// The stored row of a tile, or nullopt if the tree has no hash of it yet.
absl::StatusOr<std::optional<std::string>> ReadTile(SqliteDb& db, int64_t row) {
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT hashes FROM log_tiles WHERE id = ?"));
  ASSIGN_OR_RETURN(bool found, stmt.Bind(1, row).Step());
  if (!found) return std::optional<std::string>();
  return std::optional<std::string>(stmt.Text(0));
}

// Appends the stored hashes of level `level` from `begin` towards `end` to
// `out`, stopping at the first the tiles lack (the caller checks the count).
absl::Status ReadNodeRange(SqliteDb& db, int level, int64_t begin, int64_t end, std::string& out) {
  out.reserve(static_cast<size_t>(end - begin) * log_tiles::kHashSize);
  const log_tiles::Place first = log_tiles::PlaceOf({level, begin});
  const log_tiles::Place last = log_tiles::PlaceOf({level, end - 1});
  const int64_t per_tile = log_tiles::kWidth >> first.sub_level;  // nodes of this level in one tile
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT id, hashes FROM log_tiles WHERE id >= ? AND id <= ? ORDER BY id"));
  stmt.Bind(1, first.row).Bind(2, last.row);
  for (int64_t row = first.row; row <= last.row; ++row) {
    ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found || stmt.Int(0) != row) break;
    // This row's share of [begin, end), as positions at the level within the tile.
    const int64_t row_first = (row - first.row) * per_tile + begin - first.position;  // node index of position 0
    const int64_t from = std::max(begin, row_first) - row_first;
    const int64_t to = std::min(end, row_first + per_tile) - row_first;
    const std::string bytes = stmt.Text(1);
    const std::string_view hashes = log_tiles::LevelOf(bytes, first.sub_level);
    if (static_cast<int64_t>(hashes.size()) < to * log_tiles::kHashSize) {
      out.append(hashes.substr(std::min<size_t>(hashes.size(), from * log_tiles::kHashSize)));
      break;
    }
    out.append(hashes.substr(from * log_tiles::kHashSize, (to - from) * log_tiles::kHashSize));
  }
  return absl::OkStatus();
}

// The leaf index holds whole buckets: the append that completes a bucket
// indexes all of it at once, in prefix order, so each of its pages is
// written once. (Indexing each entry as it came wrote a page of the bucket
// per entry: the prefixes are random.) FindLeaf scans the hashes of the
// bucket still filling. Runs after the append's tiles are merged; `first`
// and `size` are the log's sizes before and after the append. OR IGNORE:
// logs written before this kept the filling bucket's rows too.
absl::Status IndexCompletedBuckets(SqliteDb& db, int64_t first, int64_t size) {
  for (int64_t bucket = first >> kBucketShift; (bucket + 1) * kBucketSize <= size; ++bucket) {
    const int64_t begin = bucket * kBucketSize;
    std::string hashes;
    RETURN_IF_ERROR(ReadNodeRange(db, 0, begin, begin + kBucketSize, hashes));
    if (hashes.size() != kBucketSize * log_tiles::kHashSize) {
      return absl::DataLossError(fmt::format("log_tiles lacks leaf hashes of bucket {}", bucket));
    }
    std::vector<std::pair<int64_t, int64_t>> rows;  // (prefix, index)
    rows.reserve(kBucketSize);
    for (int64_t i = 0; i < kBucketSize; ++i) {
      rows.emplace_back(HashPrefix(std::string_view(hashes).substr(i * log_tiles::kHashSize, 8)), begin + i);
    }
    std::sort(rows.begin(), rows.end());
    RETURN_IF_ERROR(InsertRows(db, kLeafIndex, rows.size(), [&](Statement& st, int col, size_t i) {
      st.Bind(col, bucket).Bind(col + 1, rows[i].first).Bind(col + 2, rows[i].second);
    }));
  }
  return absl::OkStatus();
}

// A node of an append, placed in its tile.
struct PlacedNode {
  log_tiles::Place place;
  LogNodeId id;
  const std::string* hash;
};

// Merges the nodes of one tile (sorted by sub-level, then position) into its
// stored row. Each must be the next hash of its level in the tile, and the
// tile's levels must stay complete over its base (the full subtrees of an
// append are exactly those its leaves complete).
absl::Status MergeTile(SqliteDb& db, std::span<const PlacedNode> nodes) {
  const int64_t row = nodes.front().place.row;
  ASSIGN_OR_RETURN(std::optional<std::string> stored, ReadTile(db, row));
  const int width = stored ? log_tiles::WidthOfRow(stored->size()) : 0;
  if (width < 0) {
    return absl::DataLossError(fmt::format("tile row {} holds {} bytes, which no tile has", row, stored->size()));
  }
  std::array<int, log_tiles::kHeight> counts{};
  for (int l = 0; l < log_tiles::kHeight; ++l) counts[l] = width >> l;
  std::array<size_t, log_tiles::kHeight + 1> starts{};  // nodes[starts[l] .. starts[l + 1]) are at sub-level l
  for (size_t i = 0, l = 0; l <= log_tiles::kHeight; ++l) {
    while (i < nodes.size() && nodes[i].place.sub_level < static_cast<int>(l)) ++i;
    starts[l] = i;
  }
  for (const PlacedNode& n : nodes) {
    if (n.place.position != counts[n.place.sub_level]) {
      return absl::InvalidArgumentError(
          fmt::format("node {}/{} is not the next one at its level (the log holds {} there in its tile)", n.id.level,
                      n.id.index, counts[n.place.sub_level]));
    }
    if (n.hash->size() != log_tiles::kHashSize) {
      return absl::InvalidArgumentError(fmt::format("the hash of node {}/{} is not 32 bytes", n.id.level, n.id.index));
    }
    ++counts[n.place.sub_level];
  }
  for (int l = 1; l < log_tiles::kHeight; ++l) {
    if (counts[l] != counts[0] >> l) {
      return absl::InvalidArgumentError(fmt::format(
          "the append leaves tile row {} with {} hashes at its base but {} at level {} above it; an append must give "
          "every full subtree its leaves complete",
          row, counts[0], counts[l], l));
    }
  }
  std::string out;
  out.reserve(static_cast<size_t>(log_tiles::HashesInRow(counts[0])) * log_tiles::kHashSize);
  for (int l = 0; l < log_tiles::kHeight; ++l) {
    if (stored) out += log_tiles::LevelOf(*stored, l);
    for (size_t i = starts[l]; i < starts[l + 1]; ++i) out += *nodes[i].hash;
  }
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT OR REPLACE INTO log_tiles (id, hashes) VALUES (?, ?)"));
  return stmt.Bind(1, row).BindBlob(2, out).Run();
}

// Copies tiles [first, end) of tile level 0 from log_tiles into the mirror
// (the hashes it lacks), in `db`'s current read transaction. Each must hold
// what a tree of `size` leaves has.
absl::Status CopyTiles(SqliteDb& db, TileMirror& mirror, int64_t first, int64_t end, int64_t size) {
  const int64_t width = log_tiles::kWidth;
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT id, hashes FROM log_tiles WHERE id >= ? AND id < ? ORDER BY id"));
  stmt.Bind(1, log_tiles::RowId(0, first)).Bind(2, log_tiles::RowId(0, end));
  int64_t next = first;
  for (;; ++next) {
    ASSIGN_OR_RETURN(bool found, stmt.Step());
    if (!found) break;
    const std::string bytes = stmt.Text(1);
    if (stmt.Int(0) != log_tiles::RowId(0, next) ||
        log_tiles::WidthOfRow(bytes.size()) < std::min(width, size - next * width)) {
      break;
    }
    RETURN_IF_ERROR(mirror.PutTile(next, bytes));
  }
  if (next != end) {
    return absl::DataLossError(fmt::format("log_tiles lacks tile 0/{} of a tree of {} leaves", next, size));
  }
  return absl::OkStatus();
}

// CopyTiles in a read transaction of a connection of its own to `path`.
absl::Status CopyTilesOnOwnConnection(const std::string& path, TileMirror& mirror, int64_t first, int64_t end,
                                      int64_t size) {
  ASSIGN_OR_RETURN(auto db, SqliteDb::Open(path, /*create=*/false));
  RETURN_IF_ERROR(Tune(*db, /*writer=*/false));
  RETURN_IF_ERROR(db->Exec("BEGIN"));
  absl::Status copied = CopyTiles(*db, mirror, first, end, size);
  db->Exec("COMMIT").IgnoreError();
  return copied;
}

// A catch-up of this many tiles (2^16 leaves) or more reads them on this
// many connections at once.
constexpr int64_t kParallelTiles = 1024;
constexpr int kCopyThreads = 4;

}  // namespace

SqliteLogStore::SqliteLogStore(std::string path)
    : path_(std::move(path)), readers_(path_, [](SqliteDb& db) { return Tune(db, /*writer=*/false); }) {}

absl::StatusOr<std::unique_ptr<SqliteLogStore>> SqliteLogStore::Open(const std::string& path, bool create) {
  if (path.empty() || path == ":memory:") return absl::InvalidArgumentError("the SQLite log store needs a file path");
  std::unique_ptr<SqliteLogStore> store(new SqliteLogStore(path));
  ASSIGN_OR_RETURN(auto writer, SqliteDb::Open(path, create));
  RETURN_IF_ERROR(Migrate(*writer));
  RETURN_IF_ERROR(Tune(*writer, /*writer=*/true));
  absl::MutexLock lock(&store->write_mu_);
  store->writer_ = std::move(writer);
  store->OpenMirror();
  return store;
}

void SqliteLogStore::OpenMirror() {
  auto mirror = TileMirror::Open(path_ + "-tiles");
  if (!mirror.ok() || *mirror == nullptr) return;  // owned by another process, or no file: SQLite alone
  mirror_ = std::move(*mirror);
  if (!SyncMirror(*writer_, /*verify=*/true).ok()) mirror_.reset();
}

absl::Status SqliteLogStore::SyncMirror(SqliteDb& db, bool verify) {
  if (mirror_->size() >= TileMirror::kMaxSize) return absl::OkStatus();
  // One read transaction: the head and the tiles agree.
  RETURN_IF_ERROR(db.Exec("BEGIN"));
  int64_t size = 0;
  absl::Status s = [&]() -> absl::Status {
    {
      ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT size FROM log_head WHERE id = 1"));
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (row) size = stmt.Int(0);
    }
    const int64_t width = log_tiles::kWidth;
    if (verify && mirror_->size() > 0) {
      // A mirror beside another database (a restored backup, a copied
      // file), or one that lost writes, is caught here: its first and last
      // tiles and a spread of others must match log_tiles.
      constexpr int64_t kSamples = 64;
      const int64_t covered = mirror_->size();
      bool same = covered <= size;
      const int64_t last = (covered - 1) / width;
      for (int64_t k = 0; k <= kSamples && same; ++k) {
        const int64_t tile = last * k / kSamples;
        ASSIGN_OR_RETURN(std::optional<std::string> row, ReadTile(db, log_tiles::RowId(0, tile)));
        same = row && mirror_->Matches(tile, *row);
      }
      if (!same) RETURN_IF_ERROR(mirror_->Reset());
    }
    const int64_t covered = mirror_->size();
    if (size <= covered) return absl::OkStatus();
    const int64_t first = covered / width, last = (size - 1) / width;
    if (last - first < kParallelTiles) return CopyTiles(db, *mirror_, first, last + 1, size);
    // A rebuild: tile rows lie all through the database file, mostly past
    // the part SQLite maps, so each is a pread (and, on a cold page cache, a
    // disk read). Several connections read parts of the range at once.
    // Their snapshots are no older than this one, and a tile that is full at
    // `size` never changes.
    RETURN_IF_ERROR(mirror_->Reserve(size));
    const int64_t span = (last + 1 - first + kCopyThreads - 1) / kCopyThreads;
    std::vector<absl::Status> parts(kCopyThreads);
    std::vector<std::thread> threads;
    for (int k = 1; k < kCopyThreads; ++k) {
      threads.emplace_back([&, k] {
        const int64_t from = first + k * span, to = std::min(last + 1, from + span);
        if (from < to) parts[k] = CopyTilesOnOwnConnection(path_, *mirror_, from, to, size);
      });
    }
    parts[0] = CopyTiles(db, *mirror_, first, std::min(last + 1, first + span), size);
    for (std::thread& t : threads) t.join();
    for (const absl::Status& part : parts) RETURN_IF_ERROR(part);
    return absl::OkStatus();
  }();
  db.Exec("COMMIT").IgnoreError();
  if (s.ok()) mirror_->Publish(size);
  return s;
}

absl::StatusOr<std::optional<LogHead>> SqliteLogStore::Head() {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT size, root, origin, checkpoint, updated_at FROM log_head WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<LogHead>();
  std::optional<LogHead> head(LogHead{stmt.Int(0), stmt.Text(1), stmt.Text(2), stmt.Text(3), stmt.Int(4)});
  // Another process appended: bring the mirror up to it, unless this
  // process is appending now (which does it after its commit).
  if (mirror_ && head->size > mirror_->size() && write_mu_.TryLock()) {
    SyncMirror(*writer_, /*verify=*/false).IgnoreError();
    write_mu_.Unlock();
  }
  return head;
}

absl::Status SqliteLogStore::Append(const LogAppend& a) {
  if (a.entries.size() != a.leaf_hashes.size() ||
      a.head.size != a.expected_size + static_cast<int64_t>(a.entries.size()) || a.head.size > kMaxIndex) {
    return absl::InvalidArgumentError("a log append must give one leaf hash per entry and the matching new size");
  }
  absl::MutexLock lock(&write_mu_);
  SqliteDb& db = *writer_;
  absl::Status appended = InTransaction(db, [&]() -> absl::Status {
    int64_t size = 0;
    {
      ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT size FROM log_head WHERE id = 1"));
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (row) size = stmt.Int(0);
    }
    if (size != a.expected_size) {
      return absl::AbortedError(
          fmt::format("the log has {} entries, not the {} this append continues from", size, a.expected_size));
    }
    std::vector<PlacedNode> placed;
    placed.reserve(a.nodes.size());
    for (const auto& [id, hash] : a.nodes) {
      if (!ValidNode(id)) {
        return absl::InvalidArgumentError(fmt::format("no tree node at level {} index {}", id.level, id.index));
      }
      placed.push_back({log_tiles::PlaceOf(id), id, &hash});
    }
    std::sort(placed.begin(), placed.end(), [](const PlacedNode& x, const PlacedNode& y) {
      return std::tie(x.place.row, x.place.sub_level, x.place.position) <
             std::tie(y.place.row, y.place.sub_level, y.place.position);
    });
    for (size_t i = 0; i < placed.size();) {
      size_t j = i + 1;
      while (j < placed.size() && placed[j].place.row == placed[i].place.row) ++j;
      RETURN_IF_ERROR(MergeTile(db, std::span<const PlacedNode>(placed).subspan(i, j - i)));
      i = j;
    }
    const int64_t first = a.expected_size;
    RETURN_IF_ERROR(InsertRows(db, kEntries, a.entries.size(), [&](Statement& st, int col, size_t i) {
      st.Bind(col, first + static_cast<int64_t>(i)).BindBlob(col + 1, a.entries[i]);
    }));
    RETURN_IF_ERROR(IndexCompletedBuckets(db, first, a.head.size));
    RETURN_IF_ERROR(InsertRows(db, kSubjects, a.subjects.size(), [&](Statement& st, int col, size_t i) {
      st.Bind(col, a.subjects[i].second >> kBucketShift)
          .Bind(col + 1, a.subjects[i].first)
          .Bind(col + 2, a.subjects[i].second);
    }));
    ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare(
            "INSERT INTO log_head (id, size, root, origin, checkpoint, updated_at) VALUES (1, ?1, ?2, ?3, ?4, ?5) "
            "ON CONFLICT (id) DO UPDATE SET size = ?1, root = ?2, origin = ?3, checkpoint = ?4, updated_at = ?5"));
    return stmt.Bind(1, a.head.size)
        .BindBlob(2, a.head.root)
        .Bind(3, a.head.origin)
        .Bind(4, a.head.checkpoint)
        .Bind(5, a.head.updated_at)
        .Run();
  });
  // Committed: now the mirror. It takes the new nodes straight from the
  // append when it covers exactly what the append continued; otherwise (it
  // missed another process's appends) it reads what it lacks from log_tiles.
  // A failure leaves it where it was; the next append tries again.
  if (appended.ok() && mirror_) {
    if (mirror_->size() == a.expected_size) {
      absl::Status put;
      for (const auto& [id, hash] : a.nodes) {
        if (id.level < TileMirror::kLevels && put.ok()) put = mirror_->Put(id, hash);
      }
      if (put.ok()) mirror_->Publish(a.head.size);
    } else {
      SyncMirror(db, /*verify=*/false).IgnoreError();
    }
  }
  return appended;
}

absl::StatusOr<std::string> SqliteLogStore::Nodes(const std::vector<LogNodeId>& ids) {
  for (const LogNodeId& id : ids) {
    if (!ValidNode(id)) {
      return absl::NotFoundError(fmt::format("the log holds no hash for level {} index {}", id.level, id.index));
    }
  }
  if (!mirror_) return TileNodes(ids);
  // From the mirror what it covers (no system call), the rest from SQLite.
  std::string out(ids.size() * log_tiles::kHashSize, '\0');
  std::vector<LogNodeId> rest;
  std::vector<size_t> rest_at;
  const int64_t covered = mirror_->size();
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!mirror_->Get(ids[i], covered, out.data() + i * log_tiles::kHashSize)) {
      rest.push_back(ids[i]);
      rest_at.push_back(i);
    }
  }
  if (rest.empty()) return out;
  ASSIGN_OR_RETURN(std::string stored, TileNodes(rest));
  for (size_t j = 0; j < rest.size(); ++j) {
    std::memcpy(out.data() + rest_at[j] * log_tiles::kHashSize, stored.data() + j * log_tiles::kHashSize,
                log_tiles::kHashSize);
  }
  return out;
}

absl::StatusOr<std::string> SqliteLogStore::TileNodes(const std::vector<LogNodeId>& ids) {
  std::vector<log_tiles::Place> places;
  places.reserve(ids.size());
  std::vector<int64_t> wanted;  // distinct rows: a proof's nodes lie in one or two
  for (const LogNodeId& id : ids) {
    places.push_back(log_tiles::PlaceOf(id));
    if (std::find(wanted.begin(), wanted.end(), places.back().row) == wanted.end()) wanted.push_back(places.back().row);
  }
  // One statement per four rows: each statement takes and drops the read
  // locks (two system calls). No transaction is needed around several: a
  // full subtree's hash never changes, and a row only ever gains hashes.
  struct Row {
    int64_t id;
    std::string bytes;
  };
  std::vector<Row> rows;
  rows.reserve(wanted.size());
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  for (size_t i = 0; i < wanted.size(); i += 4) {
    ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT id, hashes FROM log_tiles WHERE id IN (?, ?, ?, ?)"));
    for (int k = 0; k < 4; ++k) stmt.Bind(k + 1, wanted[std::min(i + k, wanted.size() - 1)]);
    for (;;) {
      ASSIGN_OR_RETURN(bool found, stmt.Step());
      if (!found) break;
      rows.push_back({stmt.Int(0), stmt.Text(1)});
    }
  }
  std::string out(ids.size() * log_tiles::kHashSize, '\0');
  for (size_t i = 0; i < ids.size(); ++i) {
    const log_tiles::Place& place = places[i];
    auto row = std::find_if(rows.begin(), rows.end(), [&](const Row& r) { return r.id == place.row; });
    const std::string_view hash =
        row == rows.end() ? std::string_view() : log_tiles::HashAt(row->bytes, place.sub_level, place.position);
    if (hash.empty()) {
      return absl::NotFoundError(
          fmt::format("the log holds no hash for level {} index {}", ids[i].level, ids[i].index));
    }
    std::memcpy(out.data() + i * log_tiles::kHashSize, hash.data(), log_tiles::kHashSize);
  }
  return out;
}

absl::StatusOr<std::string> SqliteLogStore::NodeRange(int level, int64_t begin, int64_t end) {
  auto missing = [&](int64_t have) {
    return absl::NotFoundError(
        fmt::format("the log holds {} of the hashes at level {} from {} to {}", have, level, begin, end));
  };
  if (begin < 0 || begin > end || !ValidNode({level, begin}) || (end > begin && !ValidNode({level, end - 1}))) {
    return missing(0);
  }
  std::string out;
  if (begin == end) return out;
  if (mirror_ && mirror_->GetRange(level, begin, end, mirror_->size(), out)) return out;
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  RETURN_IF_ERROR(ReadNodeRange(*r, level, begin, end, out));
  if (static_cast<int64_t>(out.size()) != (end - begin) * log_tiles::kHashSize) {
    return missing(static_cast<int64_t>(out.size()) / log_tiles::kHashSize);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteLogStore::Entries(int64_t begin, int64_t end) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT entry FROM log_entries WHERE idx >= ? AND idx < ? ORDER BY idx"));
  stmt.Bind(1, begin).Bind(2, end);
  std::vector<std::string> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) break;
    out.push_back(stmt.Text(0));
  }
  if (static_cast<int64_t>(out.size()) != end - begin) {
    return absl::NotFoundError(fmt::format("the log holds {} of the entries from {} to {}", out.size(), begin, end));
  }
  return out;
}

absl::StatusOr<std::optional<int64_t>> SqliteLogStore::FindLeaf(const std::string& leaf_hash, int64_t size) {
  if (size <= 0) return std::optional<int64_t>();
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  const int64_t prefix = HashPrefix(leaf_hash);
  // All buckets in one read transaction: the file locks are taken once.
  RETURN_IF_ERROR(r->Exec("BEGIN"));
  absl::StatusOr<std::optional<int64_t>> found = std::optional<int64_t>();
  const int64_t indexed = size >> kBucketShift;  // whole buckets below size
  for (int64_t bucket = 0; bucket < indexed && found.ok() && !found->has_value(); ++bucket) {
    found = [&]() -> absl::StatusOr<std::optional<int64_t>> {
      std::vector<int64_t> candidates;
      {
        ASSIGN_OR_RETURN(auto stmt,
                         r->Prepare("SELECT idx FROM log_leaf_index WHERE bucket = ? AND prefix = ? ORDER BY idx"));
        stmt.Bind(1, bucket).Bind(2, prefix);
        for (;;) {
          ASSIGN_OR_RETURN(bool row, stmt.Step());
          if (!row) break;
          candidates.push_back(stmt.Int(0));
        }
      }
      for (int64_t idx : candidates) {
        if (idx >= size) continue;
        char hash[log_tiles::kHashSize];
        if (mirror_ && mirror_->Get({0, idx}, mirror_->size(), hash)) {
          if (std::string_view(hash, sizeof hash) == leaf_hash) return std::optional<int64_t>(idx);
          continue;
        }
        const log_tiles::Place place = log_tiles::PlaceOf({0, idx});
        ASSIGN_OR_RETURN(std::optional<std::string> tile, ReadTile(*r, place.row));
        if (tile && log_tiles::HashAt(*tile, 0, place.position) == leaf_hash) return std::optional<int64_t>(idx);
      }
      return std::optional<int64_t>();
    }();
  }
  r->Exec("COMMIT").IgnoreError();
  if (!found.ok() || found->has_value() || size % kBucketSize == 0) return found;
  // The bucket still filling has no index rows yet: its hashes are scanned.
  const int64_t begin = indexed * kBucketSize;
  ASSIGN_OR_RETURN(std::string hashes, NodeRange(0, begin, size));
  for (int64_t i = 0; i < size - begin; ++i) {
    if (std::string_view(hashes).substr(i * log_tiles::kHashSize, log_tiles::kHashSize) == leaf_hash) {
      return std::optional<int64_t>(begin + i);
    }
  }
  return std::optional<int64_t>();
}

absl::StatusOr<std::vector<int64_t>> SqliteLogStore::EntriesAbout(const std::string& principal, int64_t after,
                                                                  int64_t limit) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  RETURN_IF_ERROR(r->Exec("BEGIN"));
  absl::StatusOr<std::vector<int64_t>> out = [&]() -> absl::StatusOr<std::vector<int64_t>> {
    int64_t last = -1;
    {
      ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT MAX(idx) FROM log_entries"));
      ASSIGN_OR_RETURN(bool row, stmt.Step());
      if (row) last = stmt.Int(0);
    }
    std::vector<int64_t> found;
    for (int64_t bucket = std::max<int64_t>(after + 1, 0) >> kBucketShift;
         bucket <= last >> kBucketShift && static_cast<int64_t>(found.size()) < limit; ++bucket) {
      ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT idx FROM log_subjects WHERE bucket = ? AND principal = ? "
                                             "AND idx > ? ORDER BY idx LIMIT ?"));
      stmt.Bind(1, bucket).Bind(2, principal).Bind(3, after).Bind(4, limit - static_cast<int64_t>(found.size()));
      for (;;) {
        ASSIGN_OR_RETURN(bool row, stmt.Step());
        if (!row) break;
        found.push_back(stmt.Int(0));
      }
    }
    return found;
  }();
  r->Exec("COMMIT").IgnoreError();
  return out;
}

}  // namespace aperture::store
