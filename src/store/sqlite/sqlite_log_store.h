// The SQLite LogStore: the transparency log's tables (migrations 2, 4 and 7)
// in the same database file as the rest of the store, behind its own
// connections so log appends and proof reads never queue behind other work in
// this process. Tree hashes are kept as tiles (sqlite_log_tiles.h); the
// bottom tiles are also mirrored in a memory-mapped file (tile_mirror.h), so
// that proofs read them with no system call.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "aperture/log_store.h"
#include "store/sqlite/reader_pool.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/tile_mirror.h"

namespace aperture::store {

// Thread-safe; other processes may append to the same file (each append
// checks the stored tree size inside its transaction). The store that owns
// the tile mirror (the first to open the database; see tile_mirror.h) keeps
// it up to date: after each of its appends, and, when it finds the log has
// grown by another process's appends, from log_tiles.
class SqliteLogStore final : public LogStore {
 public:
  // Opens the database at `path` (creating it if `create`) and applies migrations.
  static absl::StatusOr<std::unique_ptr<SqliteLogStore>> Open(const std::string& path, bool create);

  absl::StatusOr<std::optional<LogHead>> Head() override;
  absl::Status Append(const LogAppend& append) override;
  absl::StatusOr<std::string> Nodes(const std::vector<LogNodeId>& ids) override;
  absl::StatusOr<std::string> NodeRange(int level, int64_t begin, int64_t end) override;
  absl::StatusOr<std::vector<std::string>> Entries(int64_t begin, int64_t end) override;
  absl::StatusOr<std::optional<int64_t>> FindLeaf(const std::string& leaf_hash, int64_t size) override;
  absl::StatusOr<std::vector<int64_t>> EntriesAbout(const std::string& principal, int64_t after,
                                                    int64_t limit) override;

  // The tile mirror, or null if this store works without one (another
  // process owns it, or it could not be opened). For tests and the bench.
  const TileMirror* mirror() const { return mirror_.get(); }

 private:
  explicit SqliteLogStore(std::string path);

  // Opens the tile mirror and brings it up to the stored log (rebuilding it
  // if it disagrees with log_tiles); on any failure, the store goes on
  // without one.
  void OpenMirror() ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Writes what log_tiles holds beyond the mirror's size into it, in one
  // read transaction on `db`. With `verify`, first compares a sample of the
  // mirror's tiles with log_tiles and empties it on any difference.
  absl::Status SyncMirror(SqliteDb& db, bool verify) ABSL_EXCLUSIVE_LOCKS_REQUIRED(write_mu_);
  // Nodes, read from log_tiles.
  absl::StatusOr<std::string> TileNodes(const std::vector<LogNodeId>& ids);

  const std::string path_;
  absl::Mutex write_mu_;
  std::unique_ptr<SqliteDb> writer_ ABSL_GUARDED_BY(write_mu_);
  // Set at open, then never replaced: readers use it without a lock; it is
  // written under write_mu_.
  std::unique_ptr<TileMirror> mirror_;
  ReaderPool readers_;
};

}  // namespace aperture::store
