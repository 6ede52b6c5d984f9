// The SQLite Store: the default backend. One writer connection (SQLite allows
// one writer at a time) and a pool of reader connections, so request-path
// reads run in parallel with each other and with writes (WAL).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "aperture/store.h"
#include "store/access_cache.h"
#include "store/sqlite/reader_pool.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store {

// Thread-safe.
class SqliteStore final : public Store {
 public:
  // Opens the database at `path` (":memory:" is refused: readers need a file),
  // creating it if `create`, and applies migrations.
  static absl::StatusOr<std::unique_ptr<SqliteStore>> Open(const std::string& path, bool create);

  absl::Status CreatePrincipal(const Principal& p) override;
  absl::StatusOr<std::optional<Principal>> FindPrincipal(const std::string& id) override;
  absl::StatusOr<std::optional<Principal>> FindPrincipalByName(const std::string& name) override;
  absl::StatusOr<std::vector<Principal>> ListPrincipals() override;

  absl::Status CreateApiKey(const ApiKey& key) override;
  absl::StatusOr<std::optional<ApiKey>> FindApiKeyByHash(const std::string& hash) override;
  absl::StatusOr<std::optional<ApiKey>> FindApiKey(const std::string& id) override;
  absl::StatusOr<std::vector<ApiKey>> ListApiKeys(const std::string& principal_id) override;
  absl::Status RevokeApiKey(const std::string& id, int64_t when) override;
  absl::Status TouchApiKeys(const std::vector<std::pair<std::string, int64_t>>& id_and_time) override;

  absl::Status CreateModel(const Model& m) override;
  absl::StatusOr<std::optional<Model>> FindModel(const std::string& id) override;
  absl::StatusOr<std::vector<Model>> ListModels() override;
  absl::Status SetModelRequestFields(const std::string& id, const std::string& fields_json) override;
  absl::Status SetModelSystemPrompt(const std::string& id, const std::string& prompt) override;
  absl::Status SetModelDeclaredDigest(const std::string& id, const std::string& digest) override;

  absl::Status CreateModelBackend(const ModelBackend& b) override;
  absl::StatusOr<std::vector<ModelBackend>> ListModelBackends(const std::string& model_id) override;
  absl::Status SetModelBackendWeight(const std::string& id, int64_t weight) override;
  absl::Status DeleteModelBackend(const std::string& id) override;

  absl::Status SetModelCard(const ModelCard& card) override;
  absl::StatusOr<std::optional<ModelCard>> FindModelCard(const std::string& model_id) override;

  absl::Status CreateSession(const Session& s, int64_t prune_before) override;
  absl::StatusOr<std::optional<Session>> FindSessionByHash(const std::string& hash) override;
  absl::Status EndSession(const std::string& id, int64_t when) override;

  absl::Status CreateGrant(const Grant& g) override;
  absl::StatusOr<std::optional<Grant>> FindGrant(const std::string& id) override;
  absl::StatusOr<std::vector<Grant>> ListGrants(const std::string& principal_id, const std::string& model_id) override;
  absl::StatusOr<std::optional<Grant>> FindActiveGrant(const std::string& principal_id, const std::string& model_id,
                                                       int64_t now) override;
  absl::Status RevokeGrant(const std::string& id, int64_t when) override;

  absl::Status CreateAccessRequest(const AccessRequest& r) override;
  absl::StatusOr<std::optional<AccessRequest>> FindAccessRequest(const std::string& id) override;
  absl::StatusOr<std::vector<AccessRequest>> ListAccessRequests(const std::string& principal_id,
                                                                std::optional<RequestState> state) override;
  absl::Status DecideAccessRequest(const AccessRequest& decided, const std::optional<Grant>& grant) override;

  absl::Status AddReleaseEvent(const ReleaseEvent& e, ReleaseChange change) override;
  absl::StatusOr<std::vector<ReleaseEvent>> ListReleaseEvents(const std::string& model_id) override;

  absl::Status SavePolicy(const PolicyRecord& policy) override;
  absl::StatusOr<std::optional<PolicyRecord>> CurrentPolicy() override;

  absl::Status CreateEvalRun(const EvalRun& run) override;
  absl::Status AddEvalItems(const std::string& run_id,
                            const std::vector<std::pair<int64_t, std::string>>& items) override;
  absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> ListEvalItems(const std::string& run_id) override;
  absl::Status FinishEvalRun(const EvalRun& run) override;
  absl::StatusOr<std::optional<EvalRun>> FindEvalRun(const std::string& id) override;
  absl::StatusOr<std::vector<EvalRun>> ListEvalRuns(const std::string& model_id) override;

  absl::Status AddUsage(const std::vector<UsageRow>& deltas) override;
  absl::StatusOr<std::vector<UsageRow>> ListUsage(const std::string& principal, const std::string& from_day,
                                                  const std::string& to_day) override;

  absl::Status SaveReplica(const ReplicaRecord& r) override;
  absl::StatusOr<std::vector<ReplicaRecord>> ListReplicas(int64_t seen_since) override;
  absl::Status RemoveReplica(const std::string& id) override;
  absl::StatusOr<std::string> KeepSetting(const std::string& name, const std::string& value) override;
  absl::Status Ping() override;
  // Licences, openness declarations, manifests and file digests (sqlite_distribution.cpp).
  absl::Status SetLicence(const Licence& licence) override;
  absl::StatusOr<std::optional<Licence>> FindLicence(const std::string& model_id) override;
  absl::StatusOr<std::vector<Licence>> ListLicences(const std::string& model_id) override;
  absl::Status AddLicenceAcceptance(const LicenceAcceptance& acceptance) override;
  absl::StatusOr<bool> HasAcceptedLicence(const std::string& principal_id, const std::string& model_id,
                                          const std::string& licence_sha256) override;
  absl::Status SetOpennessDeclaration(const OpennessDeclaration& declaration) override;
  absl::Status RemoveOpennessDeclaration(const std::string& model_id, const std::string& component) override;
  absl::StatusOr<std::vector<OpennessDeclaration>> ListOpennessDeclarations(const std::string& model_id) override;
  absl::Status AddManifest(const ManifestRecord& manifest) override;
  absl::StatusOr<std::optional<ManifestRecord>> LatestManifest(const std::string& model_id) override;
  absl::StatusOr<std::optional<FileDigest>> FindFileDigest(const std::string& path) override;
  absl::Status SaveFileDigest(const std::string& path, const FileDigest& digest) override;

 private:
  explicit SqliteStore(std::string path) : path_(std::move(path)) {}

  // Runs `body(db)` on the writer connection inside one transaction, then,
  // unless `cached` says the write cannot change a row the access cache
  // holds, counts it in store_changes and empties the cache. Key-use times,
  // token usage and replica heartbeats (written every second by the
  // server's housekeeping) are such writes: no cached read depends on them,
  // so a cached key's last_used_at may lag.
  enum class Cached { kChanged, kUnchanged };
  template <typename F>
  absl::Status Write(F&& body, Cached cached = Cached::kChanged);
  // Write() for the store's other files (sqlite_distribution.cpp).
  absl::Status WriteWith(const std::function<absl::Status(SqliteDb&)>& body, Cached cached);

  // The access cache's generation for a read about to query the store, after
  // emptying the cache if another process wrote to the store since the last
  // check (at most every AccessCache::kRecheckInterval: the store_changes
  // count, read on a connection of its own; the log's commits, which share
  // the file, do not count).
  uint64_t CacheGeneration();

  const std::string path_;
  absl::Mutex write_mu_;
  std::unique_ptr<SqliteDb> writer_ ABSL_GUARDED_BY(write_mu_);
  ReaderPool readers_{path_, nullptr};

  AccessCache cache_;
  absl::Mutex changes_mu_;
  std::unique_ptr<SqliteDb> changes_db_ ABSL_GUARDED_BY(changes_mu_);
  int64_t store_changes_ ABSL_GUARDED_BY(changes_mu_) = 0;
  std::atomic<int64_t> next_check_ns_{0};
};

}  // namespace aperture::store
