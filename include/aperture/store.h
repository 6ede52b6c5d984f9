// Store: the one durable home of Aperture's state. Narrow on purpose, so a
// PostgreSQL backend can sit behind it without touching callers. Every write
// is one transaction; a failed write changes nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aperture/records.h"

namespace aperture {

// Implementations are thread-safe.
class Store {
 public:
  virtual ~Store() = default;

  // Principals. Names are unique: creating a taken name is AlreadyExists.
  virtual absl::Status CreatePrincipal(const Principal& p) = 0;
  virtual absl::StatusOr<std::optional<Principal>> FindPrincipal(const std::string& id) = 0;
  virtual absl::StatusOr<std::optional<Principal>> FindPrincipalByName(const std::string& name) = 0;
  virtual absl::StatusOr<std::vector<Principal>> ListPrincipals() = 0;

  // API keys.
  virtual absl::Status CreateApiKey(const ApiKey& key) = 0;
  virtual absl::StatusOr<std::optional<ApiKey>> FindApiKeyByHash(const std::string& hash) = 0;
  virtual absl::StatusOr<std::optional<ApiKey>> FindApiKey(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<ApiKey>> ListApiKeys(const std::string& principal_id) = 0;  // "" = all
  virtual absl::Status RevokeApiKey(const std::string& id, int64_t when) = 0;                    // NotFound if unknown
  // Records last use; a key is written at most once per call.
  virtual absl::Status TouchApiKeys(const std::vector<std::pair<std::string, int64_t>>& id_and_time) = 0;

  // Models.
  virtual absl::Status CreateModel(const Model& m) = 0;
  virtual absl::StatusOr<std::optional<Model>> FindModel(const std::string& id) = 0;
  virtual absl::StatusOr<std::vector<Model>> ListModels() = 0;
  virtual absl::Status SetModelRequestFields(const std::string& id, const std::string& fields_json) = 0;
  virtual absl::Status SetModelSystemPrompt(const std::string& id, const std::string& prompt) = 0;
  // "" clears it. NotFound for an unknown model.
  virtual absl::Status SetModelDeclaredDigest(const std::string& id, const std::string& digest) = 0;

  // Remote backends of models. Adding a second backend with the same url to
  // a model is AlreadyExists; NotFound for an unknown model or backend.
  virtual absl::Status CreateModelBackend(const ModelBackend& b) = 0;
  // A model's backends ("" = every model's), by model then creation.
  virtual absl::StatusOr<std::vector<ModelBackend>> ListModelBackends(const std::string& model_id) = 0;
  virtual absl::Status SetModelBackendWeight(const std::string& id, int64_t weight) = 0;
  virtual absl::Status DeleteModelBackend(const std::string& id) = 0;

  // Model cards (Markdown); nullopt when the owner has written none.
  virtual absl::Status SetModelCard(const ModelCard& card) = 0;  // NotFound for an unknown model
  virtual absl::StatusOr<std::optional<ModelCard>> FindModelCard(const std::string& model_id) = 0;

  // Browser sessions. Creating one also deletes sessions that expired
  // before `prune_before`.
  virtual absl::Status CreateSession(const Session& s, int64_t prune_before) = 0;
  virtual absl::StatusOr<std::optional<Session>> FindSessionByHash(const std::string& hash) = 0;
  virtual absl::Status EndSession(const std::string& id, int64_t when) = 0;  // NotFound if unknown or ended

  // Grants. Revoked grants stay, with revoked_at set.
  virtual absl::Status CreateGrant(const Grant& g) = 0;
  virtual absl::StatusOr<std::optional<Grant>> FindGrant(const std::string& id) = 0;
  // Grants of a principal and/or model ("" = any), newest first.
  virtual absl::StatusOr<std::vector<Grant>> ListGrants(const std::string& principal_id,
                                                        const std::string& model_id) = 0;
  // The highest-level grant that is neither revoked nor expired at `now`.
  virtual absl::StatusOr<std::optional<Grant>> FindActiveGrant(const std::string& principal_id,
                                                               const std::string& model_id, int64_t now) = 0;
  virtual absl::Status RevokeGrant(const std::string& id, int64_t when) = 0;

  // Access requests. At most one pending request per principal and model
  // (a second is AlreadyExists).
  virtual absl::Status CreateAccessRequest(const AccessRequest& r) = 0;
  virtual absl::StatusOr<std::optional<AccessRequest>> FindAccessRequest(const std::string& id) = 0;
  // Filter by principal and/or state; newest first.
  virtual absl::StatusOr<std::vector<AccessRequest>> ListAccessRequests(const std::string& principal_id,
                                                                        std::optional<RequestState> state) = 0;
  // Decides a pending request (FailedPrecondition if already decided). When
  // `grant` is set (approval) it is created in the same transaction.
  virtual absl::Status DecideAccessRequest(const AccessRequest& decided, const std::optional<Grant>& grant) = 0;

  // Releases. Appends `e` to its model's history; with kPublicLevel the
  // model's public level becomes e.to and level_since e.time, with kCeiling
  // its ceiling becomes e.to and ceiling_reason e.reason, in the same
  // transaction. NotFound for an unknown model.
  enum class ReleaseChange { kNone, kPublicLevel, kCeiling };
  virtual absl::Status AddReleaseEvent(const ReleaseEvent& e, ReleaseChange change) = 0;
  // The model's release history, oldest first.
  virtual absl::StatusOr<std::vector<ReleaseEvent>> ListReleaseEvents(const std::string& model_id) = 0;

  // The release policy in force: the latest saved (nullopt before any).
  virtual absl::Status SavePolicy(const PolicyRecord& policy) = 0;
  virtual absl::StatusOr<std::optional<PolicyRecord>> CurrentPolicy() = 0;

  // Evaluation runs. Items are stored as JSON by index; adding an index twice
  // is AlreadyExists (and adds nothing), so a resumed run cannot double count.
  virtual absl::Status CreateEvalRun(const EvalRun& run) = 0;
  virtual absl::Status AddEvalItems(const std::string& run_id,
                                    const std::vector<std::pair<int64_t, std::string>>& items) = 0;
  virtual absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> ListEvalItems(const std::string& run_id) = 0;
  // Ends a running run: state, metrics, tiers, results_sha256, finished_at,
  // error. FailedPrecondition if it is not running.
  virtual absl::Status FinishEvalRun(const EvalRun& run) = 0;
  virtual absl::StatusOr<std::optional<EvalRun>> FindEvalRun(const std::string& id) = 0;
  // Runs on a model ("" = all), newest first.
  virtual absl::StatusOr<std::vector<EvalRun>> ListEvalRuns(const std::string& model_id) = 0;

  // Usage: each row's counts are added to the stored row for its
  // (principal, model, day).
  virtual absl::Status AddUsage(const std::vector<UsageRow>& deltas) = 0;
  // Rows of a principal ("" = everyone) for days in [from_day, to_day], by day then principal.
  virtual absl::StatusOr<std::vector<UsageRow>> ListUsage(const std::string& principal, const std::string& from_day,
                                                          const std::string& to_day) = 0;

  // Licences. Setting one appends it to the model's history and copies its
  // sha256 and accept_levels onto the model (NotFound for an unknown model).
  virtual absl::Status SetLicence(const Licence& licence) = 0;
  // The licence in force; nullopt when none was ever set.
  virtual absl::StatusOr<std::optional<Licence>> FindLicence(const std::string& model_id) = 0;
  // Every licence the model has had, oldest first.
  virtual absl::StatusOr<std::vector<Licence>> ListLicences(const std::string& model_id) = 0;
  // Records an acceptance; accepting the same text again is AlreadyExists.
  virtual absl::Status AddLicenceAcceptance(const LicenceAcceptance& acceptance) = 0;
  virtual absl::StatusOr<bool> HasAcceptedLicence(const std::string& principal_id, const std::string& model_id,
                                                  const std::string& licence_sha256) = 0;

  // Openness declarations: at most one per (model, component); setting one
  // replaces the earlier. Removing an absent one is NotFound.
  virtual absl::Status SetOpennessDeclaration(const OpennessDeclaration& declaration) = 0;
  virtual absl::Status RemoveOpennessDeclaration(const std::string& model_id, const std::string& component) = 0;
  virtual absl::StatusOr<std::vector<OpennessDeclaration>> ListOpennessDeclarations(const std::string& model_id) = 0;

  // Signed manifests, one per version of a model's files.
  virtual absl::Status AddManifest(const ManifestRecord& manifest) = 0;
  virtual absl::StatusOr<std::optional<ManifestRecord>> LatestManifest(const std::string& model_id) = 0;

  // Digests of files on disk, remembered with the file's identity (device,
  // inode, size, times) so an unchanged file is not hashed again.
  struct FileDigest {
    std::string identity;
    std::string sha256;
  };
  virtual absl::StatusOr<std::optional<FileDigest>> FindFileDigest(const std::string& path) = 0;
  virtual absl::Status SaveFileDigest(const std::string& path, const FileDigest& digest) = 0;

  // Replicas: server processes sharing this store. SaveReplica inserts or
  // refreshes a row; ListReplicas gives those seen at or after `seen_since`,
  // by id; RemoveReplica forgets one (an orderly stop).
  virtual absl::Status SaveReplica(const ReplicaRecord& r) = 0;
  virtual absl::StatusOr<std::vector<ReplicaRecord>> ListReplicas(int64_t seen_since) = 0;
  virtual absl::Status RemoveReplica(const std::string& id) = 0;

  // Deployment settings shared by every process on the store: the stored
  // value of `name`, after storing `value` if it had none (atomically, so
  // two processes starting at once agree on one value).
  virtual absl::StatusOr<std::string> KeepSetting(const std::string& name, const std::string& value) = 0;

  // OK when the store answers a query now (readiness checks).
  virtual absl::Status Ping() = 0;
};

}  // namespace aperture
