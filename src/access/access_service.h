// AccessService: every change to who may do what — principals, keys, models,
// grants and access requests — with its permission check and its record.
// The CLI and the admin HTTP API both go through here, so the rules live in
// one place.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "access/api_key.h"
#include "access/caller.h"
#include "aperture/recorder.h"
#include "aperture/store.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json.h"

namespace aperture {

// A key as created: the plaintext is returned exactly once and never stored.
struct CreatedKey {
  ApiKey key;
  std::string plaintext;
};

// Thread-safe.
class AccessService {
 public:
  AccessService(Store& store, Recorder& recorder, const ApiKeyHasher& hasher, const Config& config, const Clock& clock)
      : store_(store), recorder_(recorder), hasher_(hasher), config_(config), clock_(clock) {}

  // The local operator: whoever runs the CLI on the data directory acts as an owner.
  static Caller Operator();

  // Owners only.
  absl::StatusOr<Principal> AddPrincipal(const Caller& actor, const std::string& name, Role role);
  absl::StatusOr<CreatedKey> CreateKey(const Caller& actor, const std::string& principal,
                                       std::optional<int64_t> ttl_seconds);
  absl::Status RevokeKey(const Caller& actor, const std::string& key_id);
  absl::StatusOr<Model> AddModel(const Caller& actor, const std::string& id, const std::string& path,
                                 Level public_level);
  absl::Status SetRequestFields(const Caller& actor, const std::string& model_id, const Json& fields);
  absl::Status SetSystemPrompt(const Caller& actor, const std::string& model_id, const std::string& prompt);

  // Owners and reviewers, under separation of duties: nobody grants a level
  // to themselves or approves their own request (PermissionDenied, code
  // "self_grant"), and a reviewer grants and approves at most
  // Config::reviewer_grant_limit ("reviewer_grant_limit"); a reviewer may
  // approve a request above it at a lower `level`.
  // `scope`: the research scope narrowed for this grant (JSON, see research_scope.h; "{}": none).
  absl::StatusOr<Grant> GrantAccess(const Caller& actor, const std::string& principal, const std::string& model_id,
                                    Level level, std::optional<int64_t> ttl_seconds, const std::string& reason,
                                    const std::string& scope = "{}");
  absl::Status RevokeGrant(const Caller& actor, const std::string& grant_id);
  absl::StatusOr<AccessRequest> Approve(const Caller& actor, const std::string& request_id, std::optional<Level> level,
                                        std::optional<int64_t> ttl_seconds, const std::string& reason);
  absl::StatusOr<AccessRequest> Deny(const Caller& actor, const std::string& request_id, const std::string& reason);
  absl::StatusOr<std::vector<AccessRequest>> ListRequests(const Caller& actor, std::optional<RequestState> state);

  // Any principal, for themselves.
  absl::StatusOr<AccessRequest> SubmitRequest(const Caller& actor, const std::string& model_id, Level level,
                                              const std::string& justification, const Json& fields);
  absl::StatusOr<std::vector<AccessRequest>> MyRequests(const Caller& actor);
  // A principal's own keys: create one (shown once) and revoke one. Another
  // principal's key answers NotFound, as a missing one does.
  absl::StatusOr<CreatedKey> CreateOwnKey(const Caller& actor, std::optional<int64_t> ttl_seconds);
  absl::Status RevokeOwnKey(const Caller& actor, const std::string& key_id);

  // Sets a model's card (owner-written Markdown, at most kMaxCardBytes).
  static constexpr size_t kMaxCardBytes = 64 * 1024;
  absl::Status SetModelCard(const Caller& actor, const std::string& model_id, const std::string& markdown);

  // Resolves a principal by id or name.
  absl::StatusOr<Principal> ResolvePrincipal(const std::string& id_or_name);

 private:
  absl::Status Require(const Caller& actor, Role role) const;
  absl::Status Record(const Caller& actor, std::string type, std::string model, std::string level, const Json& details);

  Store& store_;
  Recorder& recorder_;
  const ApiKeyHasher& hasher_;
  const Config& config_;
  const Clock& clock_;
};

// Validates a model's request-field spec (a JSON array of {name, type:
// text|select|checkbox, required, options}) and an answer object against it.
absl::Status ValidateRequestFieldSpec(const Json& spec);
absl::Status ValidateRequestAnswers(const Json& spec, const Json& answers);

}  // namespace aperture
