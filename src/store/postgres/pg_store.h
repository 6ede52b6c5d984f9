// The PostgreSQL Store: the same contract as the SQLite store, for
// deployments with several replicas (docs/deploy.md). Every call runs on a
// pooled connection (pg_db.h); every write is one transaction.
//
// The access cache (store/access_cache.h) keeps the rows every request reads.
// A write that changes such a row NOTIFYs channel `aperture_store` in its
// transaction; each store LISTENs on a connection of its own and empties its
// cache when a notification arrives (a few milliseconds after the writer
// commits, on any replica). While that connection is down the cache is not
// used at all, so a missed notification can never leave a revoked key
// working.
//
// Usage:
//   ASSIGN_OR_RETURN(auto store, PgStore::Open("postgresql://aperture@db/aperture", /*create=*/true));
//
// Thread-safety: thread-safe.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "aperture/store.h"
#include "core/random.h"
#include "store/access_cache.h"
#include "store/postgres/pg_db.h"

namespace aperture::store {

class PgStore final : public Store {
 public:
  // Connects to the database at `url` (a libpq URL or key=value string) and
  // applies migrations. `create` is accepted for symmetry with the SQLite
  // store: the database itself must exist (CREATE DATABASE is the
  // operator's, with the rights it needs).
  static absl::StatusOr<std::unique_ptr<PgStore>> Open(const std::string& url, bool create);
  ~PgStore() override;

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
  absl::Status SetModelCard(const ModelCard& card) override;
  absl::StatusOr<std::optional<ModelCard>> FindModelCard(const std::string& model_id) override;
  absl::Status CreateSession(const Session& s, int64_t prune_before) override;
  absl::StatusOr<std::optional<Session>> FindSessionByHash(const std::string& hash) override;
  absl::Status EndSession(const std::string& id, int64_t when) override;

  absl::Status CreateModelBackend(const ModelBackend& b) override;
  absl::StatusOr<std::vector<ModelBackend>> ListModelBackends(const std::string& model_id) override;
  absl::Status SetModelBackendWeight(const std::string& id, int64_t weight) override;
  absl::Status DeleteModelBackend(const std::string& id) override;

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

  // Licences, openness declarations, manifests and file digests (pg_distribution.cpp).
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

  // Whether the cache is in use now (the listener is connected). For tests.
  bool listening() const { return listening_.load(std::memory_order_acquire); }

 private:
  explicit PgStore(std::unique_ptr<PgPool> pool) : pool_(std::move(pool)), id_(NewId("store")) {}

  // Runs `body(tx)` in one transaction; unless `cached` says the write
  // cannot change a row the access cache holds, it also NOTIFYs the other
  // replicas and empties this store's cache. As in the SQLite store,
  // key-use times, usage and replica heartbeats (every second) do not.
  enum class Cached { kChanged, kUnchanged };
  template <typename F>
  absl::Status Write(F&& body, Cached cached = Cached::kChanged);
  // Write for the store's other files, which cannot instantiate the template.
  absl::Status WriteTx(const std::function<absl::Status(pqxx::work&)>& body, Cached cached);

  // LISTENs on a connection of its own, emptying the cache on each
  // notification; reconnects when the connection drops.
  void Listen();

  std::unique_ptr<PgPool> pool_;
  const std::string id_;  // the payload of this store's notifications
  AccessCache cache_;
  std::atomic<bool> listening_{false};
  std::atomic<bool> stopping_{false};
  std::thread listener_;
};

}  // namespace aperture::store
