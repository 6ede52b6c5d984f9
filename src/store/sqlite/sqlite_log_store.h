// The SQLite LogStore: the transparency log's tables (migrations 2, 4 and 7)
// in the same database file as the rest of the store, behind its own
// connections so log appends and proof reads never queue behind other work in
// this process. Tree hashes are kept as tiles (sqlite_log_tiles.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "aperture/log_store.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store {

// Thread-safe; other processes may append to the same file (each append
// checks the stored tree size inside its transaction).
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

 private:
  explicit SqliteLogStore(std::string path) : path_(std::move(path)) {}

  // A pooled reader connection, returned to the pool when it goes out of scope.
  class Reader;
  absl::StatusOr<Reader> AcquireReader();
  void ReleaseReader(std::unique_ptr<SqliteDb> db);

  const std::string path_;
  absl::Mutex write_mu_;
  std::unique_ptr<SqliteDb> writer_ ABSL_GUARDED_BY(write_mu_);
  absl::Mutex pool_mu_;
  std::vector<std::unique_ptr<SqliteDb>> readers_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace aperture::store
