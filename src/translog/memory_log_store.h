// MemoryLogStore: a LogStore held in memory, for tests and benchmarks of the
// log's logic without a database. Same contract as the SQLite store.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "aperture/log_store.h"

namespace aperture::translog {

// Thread-safe.
class MemoryLogStore : public LogStore {
 public:
  absl::StatusOr<std::optional<LogHead>> Head() override;
  absl::Status Append(const LogAppend& append) override;
  absl::StatusOr<std::string> Nodes(const std::vector<LogNodeId>& ids) override;
  absl::StatusOr<std::string> NodeRange(int level, int64_t begin, int64_t end) override;
  absl::StatusOr<std::vector<std::string>> Entries(int64_t begin, int64_t end) override;
  absl::StatusOr<std::optional<int64_t>> FindLeaf(const std::string& leaf_hash, int64_t size) override;
  absl::StatusOr<std::vector<int64_t>> EntriesAbout(const std::string& principal, int64_t after,
                                                    int64_t limit) override;

  // Overwrites a stored entry in place, as an attacker with database access could.
  void TamperEntry(int64_t index, std::string entry);

 private:
  absl::Mutex mu_;
  std::optional<LogHead> head_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> leaf_hashes_ ABSL_GUARDED_BY(mu_);
  std::vector<std::vector<std::string>> levels_ ABSL_GUARDED_BY(mu_);  // levels_[l][i]
  std::map<std::string, std::vector<int64_t>> subjects_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture::translog
