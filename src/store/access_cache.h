// AccessCache: the rows every request reads (an API key by hash, its
// principal, the models, a principal's active grant on a model), kept in
// memory between changes, so the request path runs no SQL statement.
//
// Both stores invalidate it after each of their own writes, and when another
// process has written to the store: the SQLite store at its next check of
// the store_changes count, at most kRecheckInterval later (sqlite_store.cpp);
// the PostgreSQL store when PostgreSQL delivers the writer's NOTIFY
// (milliseconds), serving no cached row while it is not listening
// (pg_store.cpp).
// A read that started before an invalidation never fills the cache: readers
// take a generation before they query and pass it back with the result.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "aperture/records.h"

namespace aperture::store {

// Thread-safe.
class AccessCache {
 public:
  // How stale a row changed by another process may be.
  static constexpr std::chrono::milliseconds kRecheckInterval{100};
  // Entries per table; a table that fills is emptied (unknown keys are never
  // cached, so callers cannot grow it with made-up ones).
  static constexpr size_t kMaxEntries = 8192;

  // The generation to hand back to a Put after reading the store.
  uint64_t Generation() const;
  // Drops everything, and every Put begun before.
  void Invalidate();

  std::optional<ApiKey> KeyByHash(const std::string& hash) const;
  void PutKeyByHash(uint64_t generation, const std::string& hash, const ApiKey& key);

  std::optional<Principal> FindPrincipal(const std::string& id) const;
  void PutPrincipal(uint64_t generation, const Principal& principal);

  std::optional<std::vector<Model>> Models() const;
  void PutModels(uint64_t generation, const std::vector<Model>& models);
  // A model by id, from the cached list; nullopt when no list is cached.
  std::optional<std::optional<Model>> FindModel(const std::string& id) const;

  // The highest-level active grant, as of `now`. The set of a principal's
  // active grants only shrinks with time until the next write, so a cached
  // answer stands while the grant it names is unexpired (or there was none).
  std::optional<std::optional<Grant>> ActiveGrant(const std::string& principal_id, const std::string& model_id,
                                                  int64_t now) const;
  void PutActiveGrant(uint64_t generation, const std::string& principal_id, const std::string& model_id,
                      const std::optional<Grant>& grant);

 private:
  static std::string GrantKey(const std::string& principal_id, const std::string& model_id);

  mutable absl::Mutex mu_;
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, ApiKey> keys_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Principal> principals_ ABSL_GUARDED_BY(mu_);
  std::optional<std::vector<Model>> models_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::optional<Grant>> grants_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture::store
