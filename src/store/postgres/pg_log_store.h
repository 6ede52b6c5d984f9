// The PostgreSQL LogStore: the transparency log's tables in the same
// database as the rest of the store, shared by every replica.
//
// Appends are serialised in the database: each takes a transaction-scoped
// advisory lock, checks the stored tree size against the size the append
// continues from, and writes entries, subtree hashes and the new signed head
// in one transaction. Whichever replica holds the lock is the log's
// sequencer for that one append; an append that lost a race is Aborted with
// nothing written, and its sequencer re-reads the tree and tries again
// (docs/replicas.md says why this design and what it costs). The tree can
// therefore never fork, and a checkpoint is visible only with everything
// under it.
//
// A replica that dies holding the lock releases it when its connection
// closes (at once for a killed process); one that stalls or loses its
// network mid-append is cut off by idle_in_transaction_session_timeout
// (5 s) or the TCP keepalives (about 8 s).
//
// Usage:
//   ASSIGN_OR_RETURN(auto log, PgLogStore::Open(url, /*create=*/true));
//   ASSIGN_OR_RETURN(auto sequencer, translog::LogSequencer::Open(*log, key, origin, clock));
//
// Thread-safety: thread-safe; any number of processes may append.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "aperture/log_store.h"
#include "store/postgres/pg_db.h"

namespace aperture::store {

class PgLogStore final : public LogStore {
 public:
  // Connects to the database at `url` and applies migrations.
  static absl::StatusOr<std::unique_ptr<PgLogStore>> Open(const std::string& url, bool create);

  absl::StatusOr<std::optional<LogHead>> Head() override;
  absl::Status Append(const LogAppend& append) override;
  absl::StatusOr<std::string> Nodes(const std::vector<LogNodeId>& ids) override;
  absl::StatusOr<std::string> NodeRange(int level, int64_t begin, int64_t end) override;
  absl::StatusOr<std::vector<std::string>> Entries(int64_t begin, int64_t end) override;
  absl::StatusOr<std::optional<int64_t>> FindLeaf(const std::string& leaf_hash, int64_t size) override;
  absl::StatusOr<std::vector<int64_t>> EntriesAbout(const std::string& principal, int64_t after,
                                                    int64_t limit) override;

 private:
  explicit PgLogStore(std::unique_ptr<PgPool> pool) : pool_(std::move(pool)) {}
  std::unique_ptr<PgPool> pool_;
};

}  // namespace aperture::store
