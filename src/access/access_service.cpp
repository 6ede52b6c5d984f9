#include "access/access_service.h"

#include "access/research_scope.h"

#include <filesystem>

#include "access/authorizer.h"
#include "core/error_code.h"
#include "core/hash.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "core/utf8.h"
#include "fmt/format.h"

namespace aperture {
namespace {

constexpr size_t kMaxNameLength = 64;
constexpr size_t kMaxModelIdLength = 128;
constexpr size_t kMaxTextLength = 4000;

bool ValidName(std::string_view s, size_t max, bool allow_slash) {
  if (s.empty() || s.size() > max) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.' || (allow_slash && (c == '/' || c == ':'));
    if (!ok) return false;
  }
  return s.front() != '.' && s.front() != '/';
}

int64_t ExpiryFrom(int64_t now, std::optional<int64_t> ttl) { return ttl ? now + *ttl : 0; }

// Separation of duties: whoever hands out a level is never the one who gets
// it, and a reviewer (who vets others) hands out at most `limit`. Owners'
// grants go through the same rules and the same record. The refusal names
// the rule, as its error code and in its message.
enum class Handing { kGrant, kApproval };

absl::Status CheckSeparationOfDuties(const Caller& actor, const std::string& recipient_id, Level level, Level limit,
                                     Handing handing) {
  const bool grant = handing == Handing::kGrant;
  if (actor.principal && actor.principal->id == recipient_id) {
    return WithErrorCode(absl::PermissionDeniedError(fmt::format(
                             "separation of duties (rule self_grant): nobody {}; ask another reviewer or an owner",
                             grant ? "grants a level to themselves" : "approves their own access request")),
                         "self_grant");
  }
  if (!actor.IsAtLeast(Role::kOwner) && level > limit) {
    return WithErrorCode(
        absl::PermissionDeniedError(fmt::format(
            "separation of duties (rule reviewer_grant_limit): a reviewer {} at most '{}'; '{}' needs an owner{}",
            grant ? "grants" : "approves", LevelName(limit), LevelName(level),
            grant ? "" : fmt::format(" (or approve at level '{}')", LevelName(limit)))),
        "reviewer_grant_limit");
  }
  return absl::OkStatus();
}

}  // namespace

Caller AccessService::Operator() {
  Caller c;
  c.principal = Principal{"cli", "cli", Role::kOwner, 0};
  c.address = "local";
  return c;
}

absl::Status AccessService::Require(const Caller& actor, Role role) const {
  if (actor.IsAtLeast(role)) return absl::OkStatus();
  return absl::PermissionDeniedError(fmt::format("this action needs the '{}' role", RoleName(role)));
}

absl::Status AccessService::Record(const Caller& actor, std::string type, std::string model, std::string level,
                                   const Json& details) {
  LogEvent e;
  e.type = std::move(type);
  e.time = clock_.NowSeconds();
  e.actor = actor.actor();
  e.model = std::move(model);
  e.level = std::move(level);
  e.outcome = "ok";
  e.reason = "ok";
  e.details = CanonicalJson(details);
  return recorder_.RecordDurably(std::move(e));
}

absl::StatusOr<Principal> AccessService::ResolvePrincipal(const std::string& id_or_name) {
  ASSIGN_OR_RETURN(auto p, store_.FindPrincipal(id_or_name));
  if (p) return *p;
  ASSIGN_OR_RETURN(p, store_.FindPrincipalByName(id_or_name));
  if (p) return *p;
  return absl::NotFoundError(fmt::format("no principal named '{}'", id_or_name));
}

absl::StatusOr<Principal> AccessService::AddPrincipal(const Caller& actor, const std::string& name, Role role) {
  RETURN_IF_ERROR(Require(actor, Role::kOwner));
  if (!ValidName(name, kMaxNameLength, false)) {
    return absl::InvalidArgumentError("a principal name is 1-64 letters, digits, '-', '_' or '.'");
  }
  Principal p{NewId("prn"), name, role, clock_.NowSeconds()};
  RETURN_IF_ERROR(store_.CreatePrincipal(p));
  RETURN_IF_ERROR(
      Record(actor, "principal.created", "", "", {{"principal", p.id}, {"name", p.name}, {"role", RoleName(role)}}));
  return p;
}

absl::StatusOr<CreatedKey> AccessService::CreateKey(const Caller& actor, const std::string& principal,
                                                    std::optional<int64_t> ttl_seconds) {
  RETURN_IF_ERROR(Require(actor, Role::kOwner));
  ASSIGN_OR_RETURN(Principal p, ResolvePrincipal(principal));
  CreatedKey created;
  created.plaintext = GenerateApiKey();
  const int64_t now = clock_.NowSeconds();
  created.key = ApiKey{NewId("key"), p.id, hasher_.Hash(created.plaintext), now, ExpiryFrom(now, ttl_seconds), 0, 0};
  RETURN_IF_ERROR(store_.CreateApiKey(created.key));
  RETURN_IF_ERROR(Record(actor, "key.created", "", "",
                         {{"key", created.key.id}, {"principal", p.id}, {"expires_at", created.key.expires_at}}));
  return created;
}

absl::Status AccessService::RevokeKey(const Caller& actor, const std::string& key_id) {
  RETURN_IF_ERROR(Require(actor, Role::kOwner));
  ASSIGN_OR_RETURN(auto key, store_.FindApiKey(key_id));
  if (!key) return absl::NotFoundError(fmt::format("no key with id '{}'", key_id));
  RETURN_IF_ERROR(store_.RevokeApiKey(key_id, clock_.NowSeconds()));
  return Record(actor, "key.revoked", "", "", {{"key", key_id}, {"principal", key->principal_id}});
}

absl::StatusOr<CreatedKey> AccessService::CreateOwnKey(const Caller& actor, std::optional<int64_t> ttl_seconds) {
  if (actor.anonymous()) return absl::UnauthenticatedError("creating a key needs you signed in");
  CreatedKey created;
  created.plaintext = GenerateApiKey();
  const int64_t now = clock_.NowSeconds();
  created.key = ApiKey{
      NewId("key"), actor.principal->id, hasher_.Hash(created.plaintext), now, ExpiryFrom(now, ttl_seconds), 0, 0};
  RETURN_IF_ERROR(store_.CreateApiKey(created.key));
  RETURN_IF_ERROR(Record(actor, "key.created", "", "",
                         {{"key", created.key.id},
                          {"principal", actor.principal->id},
                          {"expires_at", created.key.expires_at},
                          {"self_service", true}}));
  return created;
}

absl::Status AccessService::RevokeOwnKey(const Caller& actor, const std::string& key_id) {
  if (actor.anonymous()) return absl::UnauthenticatedError("revoking a key needs you signed in");
  ASSIGN_OR_RETURN(auto key, store_.FindApiKey(key_id));
  // Another principal's key looks missing: its id tells nothing.
  if (!key || key->principal_id != actor.principal->id) {
    return absl::NotFoundError(fmt::format("you have no key with id '{}'", key_id));
  }
  if (key->revoked_at != 0) return absl::FailedPreconditionError(fmt::format("key '{}' is already revoked", key_id));
  RETURN_IF_ERROR(store_.RevokeApiKey(key_id, clock_.NowSeconds()));
  return Record(actor, "key.revoked", "", "",
                {{"key", key_id}, {"principal", key->principal_id}, {"self_service", true}});
}

absl::Status AccessService::SetModelCard(const Caller& actor, const std::string& model_id,
                                         const std::string& markdown) {
  RETURN_IF_ERROR(Require(actor, Role::kOwner));
  if (markdown.size() > kMaxCardBytes) {
    return absl::InvalidArgumentError(fmt::format("a model card is at most {} bytes", kMaxCardBytes));
  }
  if (!IsValidUtf8(markdown)) return absl::InvalidArgumentError("a model card must be UTF-8 text");
  ModelCard card{model_id, markdown, clock_.NowSeconds(), actor.actor()};
  RETURN_IF_ERROR(store_.SetModelCard(card));
  return Record(actor, "model.card_set", model_id, "", {{"sha256", Sha256Hex(markdown)}, {"bytes", markdown.size()}});
}

absl::StatusOr<Model> AccessService::AddModel(const Caller& actor, const std::string& id, const std::string& path,
                                              Level public_level) {
  RETURN_IF_ERROR(Require(actor, Role::kOwner));
  if (!ValidName(id, kMaxModelIdLength, true)) {
    return absl::InvalidArgumentError(
        "a model id is 1-128 letters, digits, '-', '_', '.', ':' or '/', not starting with '.' or '/'");
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return absl::InvalidArgumentError(fmt::format("model file '{}' does not exist or is not a file", path));
  }
  std::string absolute = std::filesystem::absolute(path, ec).string();
  Model m{id, absolute.empty() ? path : absolute, public_level, "[]", clock_.NowSeconds()};
  RETURN_IF_ERROR(store_.CreateModel(m));
  RETURN_IF_ERROR(Record(actor, "model.added", id, std::string(LevelName(public_level)), Json::object()));
  return m;
}

absl::Status AccessService::SetRequestFields(const Caller& actor, const std::string& model_id, const Json& fields) {
  RETURN_IF_ERROR(Require(actor, Role::kOwner));
  RETURN_IF_ERROR(ValidateRequestFieldSpec(fields));
  RETURN_IF_ERROR(store_.SetModelRequestFields(model_id, CanonicalJson(fields)));
  return Record(actor, "model.request_fields", model_id, "", {{"fields_sha256", Sha256Hex(CanonicalJson(fields))}});
}

absl::Status AccessService::SetSystemPrompt(const Caller& actor, const std::string& model_id,
                                            const std::string& prompt) {
  RETURN_IF_ERROR(Require(actor, Role::kOwner));
  if (prompt.size() > kMaxTextLength) return absl::InvalidArgumentError("a system prompt is at most 4000 characters");
  RETURN_IF_ERROR(store_.SetModelSystemPrompt(model_id, prompt));
  return Record(actor, "model.system_prompt", model_id, "", {{"system_prompt_sha256", Sha256Hex(prompt)}});
}

absl::StatusOr<Grant> AccessService::GrantAccess(const Caller& actor, const std::string& principal,
                                                 const std::string& model_id, Level level,
                                                 std::optional<int64_t> ttl_seconds, const std::string& reason,
                                                 const std::string& scope) {
  RETURN_IF_ERROR(Require(actor, Role::kReviewer));
  if (reason.empty() || reason.size() > kMaxTextLength) {
    return absl::InvalidArgumentError("a grant needs a reason (at most 4000 characters)");
  }
  ASSIGN_OR_RETURN(GrantScope narrowed, ParseGrantScope(scope));
  ASSIGN_OR_RETURN(Principal p, ResolvePrincipal(principal));
  RETURN_IF_ERROR(CheckSeparationOfDuties(actor, p.id, level, config_.reviewer_grant_limit, Handing::kGrant));
  ASSIGN_OR_RETURN(auto model, store_.FindModel(model_id));
  if (!model) return absl::NotFoundError(fmt::format("no model with id '{}'", model_id));
  const int64_t now = clock_.NowSeconds();
  Grant g{NewId("grt"), p.id,          model_id, level, ExpiryFrom(now, ttl_seconds),
          reason,       actor.actor(), now,      0,     GrantScopeJson(narrowed)};
  RETURN_IF_ERROR(store_.CreateGrant(g));
  Json details = {{"grant", g.id}, {"principal", p.id}, {"expires_at", g.expires_at}, {"reason", reason}};
  if (!narrowed.empty()) details["scope"] = Json::parse(g.scope);
  RETURN_IF_ERROR(Record(actor, "grant.created", model_id, std::string(LevelName(level)), std::move(details)));
  return g;
}

absl::Status AccessService::RevokeGrant(const Caller& actor, const std::string& grant_id) {
  RETURN_IF_ERROR(Require(actor, Role::kReviewer));
  ASSIGN_OR_RETURN(auto g, store_.FindGrant(grant_id));
  if (!g) return absl::NotFoundError(fmt::format("no grant with id '{}'", grant_id));
  RETURN_IF_ERROR(store_.RevokeGrant(grant_id, clock_.NowSeconds()));
  return Record(actor, "grant.revoked", g->model_id, std::string(LevelName(g->level)),
                {{"grant", grant_id}, {"principal", g->principal_id}});
}

absl::StatusOr<AccessRequest> AccessService::SubmitRequest(const Caller& actor, const std::string& model_id,
                                                           Level level, const std::string& justification,
                                                           const Json& fields) {
  if (actor.anonymous()) {
    return absl::UnauthenticatedError("access requests need an API key: the request names who is asking");
  }
  if (justification.empty() || justification.size() > kMaxTextLength) {
    return absl::InvalidArgumentError("'justification' is required (at most 4000 characters)");
  }
  ASSIGN_OR_RETURN(auto model, store_.FindModel(model_id));
  Level current = Level::kClosed;  // held: asking again for a suspended level changes nothing
  if (model) {
    Authorizer authorizer(store_, config_, clock_);
    ASSIGN_OR_RETURN(Authorizer::Levels levels, authorizer.LevelsOn(actor, *model));
    current = levels.held;
  }
  // Staged and closed models stay invisible: asking for one looks like asking for a missing one.
  if (!model || !ModelVisible(actor, current)) {
    return absl::NotFoundError(fmt::format("The model '{}' does not exist or you do not have access to it.", model_id));
  }
  if (level <= current) {
    return absl::InvalidArgumentError(
        fmt::format("you already have level '{}' on '{}'; ask for a higher level", LevelName(current), model_id));
  }
  auto spec = ParseJson(model->request_fields);
  if (!spec.ok()) return absl::InternalError("the model's request fields are not valid JSON");
  RETURN_IF_ERROR(ValidateRequestAnswers(*spec, fields));

  const int64_t now = clock_.NowSeconds();
  ASSIGN_OR_RETURN(auto previous, store_.ListAccessRequests(actor.principal->id, std::nullopt));
  for (const AccessRequest& r : previous) {
    if (r.model_id != model_id) continue;
    if (r.state == RequestState::kPending) {
      return absl::AlreadyExistsError(fmt::format("request '{}' for this model is still pending", r.id));
    }
    if (r.state == RequestState::kDenied && r.decided_at + config_.access_request_retry_seconds > now) {
      return absl::ResourceExhaustedError(
          fmt::format("your request '{}' was denied; you may ask again after {}", r.id,
                      FormatRfc3339(r.decided_at + config_.access_request_retry_seconds)));
    }
    break;  // newest first: only the latest request for the model matters
  }
  AccessRequest r;
  r.id = NewId("req");
  r.principal_id = actor.principal->id;
  r.model_id = model_id;
  r.level = level;
  r.justification = justification;
  r.fields = CanonicalJson(fields.is_null() ? Json::object() : fields);
  r.created_at = now;
  RETURN_IF_ERROR(store_.CreateAccessRequest(r));
  RETURN_IF_ERROR(Record(actor, "request.submitted", model_id, std::string(LevelName(level)),
                         {{"request", r.id}, {"justification_sha256", Sha256Hex(justification)}}));
  return r;
}

absl::StatusOr<std::vector<AccessRequest>> AccessService::MyRequests(const Caller& actor) {
  if (actor.anonymous()) return absl::UnauthenticatedError("listing your access requests needs an API key");
  return store_.ListAccessRequests(actor.principal->id, std::nullopt);
}

absl::StatusOr<std::vector<AccessRequest>> AccessService::ListRequests(const Caller& actor,
                                                                       std::optional<RequestState> state) {
  RETURN_IF_ERROR(Require(actor, Role::kReviewer));
  return store_.ListAccessRequests("", state);
}

absl::StatusOr<AccessRequest> AccessService::Approve(const Caller& actor, const std::string& request_id,
                                                     std::optional<Level> level, std::optional<int64_t> ttl_seconds,
                                                     const std::string& reason) {
  RETURN_IF_ERROR(Require(actor, Role::kReviewer));
  ASSIGN_OR_RETURN(auto request, store_.FindAccessRequest(request_id));
  if (!request) return absl::NotFoundError(fmt::format("no access request with id '{}'", request_id));
  if (request->state != RequestState::kPending) {
    return absl::FailedPreconditionError(
        fmt::format("access request '{}' was already {}", request_id, RequestStateName(request->state)));
  }
  Level granted = level.value_or(request->level);
  if (granted > request->level) {
    return absl::InvalidArgumentError(
        fmt::format("cannot approve above the level asked for ('{}')", LevelName(request->level)));
  }
  RETURN_IF_ERROR(
      CheckSeparationOfDuties(actor, request->principal_id, granted, config_.reviewer_grant_limit, Handing::kApproval));
  const int64_t now = clock_.NowSeconds();
  AccessRequest decided = *request;
  decided.state = RequestState::kApproved;
  decided.decided_by = actor.actor();
  decided.decision_reason = reason.empty() ? "approved" : reason;
  decided.decided_at = now;
  Grant g{NewId("grt"),
          request->principal_id,
          request->model_id,
          granted,
          ExpiryFrom(now, ttl_seconds),
          fmt::format("access request {}", request_id),
          actor.actor(),
          now,
          0};
  decided.grant_id = g.id;
  RETURN_IF_ERROR(store_.DecideAccessRequest(decided, g));
  RETURN_IF_ERROR(Record(actor, "request.decided", request->model_id, std::string(LevelName(granted)),
                         {{"request", request_id},
                          {"decision", "approved"},
                          {"grant", g.id},
                          {"principal", request->principal_id},
                          {"expires_at", g.expires_at}}));
  return decided;
}

absl::StatusOr<AccessRequest> AccessService::Deny(const Caller& actor, const std::string& request_id,
                                                  const std::string& reason) {
  RETURN_IF_ERROR(Require(actor, Role::kReviewer));
  if (reason.empty() || reason.size() > kMaxTextLength) {
    return absl::InvalidArgumentError("a denial needs a reason the requester will see");
  }
  ASSIGN_OR_RETURN(auto request, store_.FindAccessRequest(request_id));
  if (!request) return absl::NotFoundError(fmt::format("no access request with id '{}'", request_id));
  AccessRequest decided = *request;
  decided.state = RequestState::kDenied;
  decided.decided_by = actor.actor();
  decided.decision_reason = reason;
  decided.decided_at = clock_.NowSeconds();
  RETURN_IF_ERROR(store_.DecideAccessRequest(decided, std::nullopt));
  RETURN_IF_ERROR(Record(actor, "request.decided", request->model_id, std::string(LevelName(request->level)),
                         {{"request", request_id}, {"decision", "denied"}, {"principal", request->principal_id}}));
  return decided;
}

absl::Status ValidateRequestFieldSpec(const Json& spec) {
  if (!spec.is_array() || spec.size() > 32) {
    return absl::InvalidArgumentError("request fields must be an array of at most 32 field definitions");
  }
  for (const Json& f : spec) {
    if (!f.is_object()) return absl::InvalidArgumentError("each request field must be an object");
    ASSIGN_OR_RETURN(std::string name, RequiredString(f, "name"));
    ASSIGN_OR_RETURN(std::string type, RequiredString(f, "type"));
    if (!ValidName(name, kMaxNameLength, false)) {
      return absl::InvalidArgumentError(fmt::format("request field name '{}' is not a simple name", name));
    }
    ASSIGN_OR_RETURN(auto required, OptionalBool(f, "required"));
    (void)required;
    if (type == "select") {
      auto it = f.find("options");
      if (it == f.end() || !it->is_array() || it->empty()) {
        return absl::InvalidArgumentError(fmt::format("select field '{}' needs a non-empty 'options' array", name));
      }
      for (const Json& o : *it) {
        if (!o.is_string()) return absl::InvalidArgumentError(fmt::format("options of '{}' must be strings", name));
      }
    } else if (type != "text" && type != "checkbox") {
      return absl::InvalidArgumentError(
          fmt::format("request field '{}' has type '{}'; use text, select or checkbox", name, type));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRequestAnswers(const Json& spec, const Json& answers) {
  const Json empty = Json::object();
  const Json& a = answers.is_null() ? empty : answers;
  if (!a.is_object()) return absl::InvalidArgumentError("'fields' must be an object");
  for (const auto& [key, value] : a.items()) {
    bool known = false;
    for (const Json& f : spec) known = known || f.value("name", "") == key;
    if (!known) return absl::InvalidArgumentError(fmt::format("'fields.{}' is not a field of this model's form", key));
  }
  for (const Json& f : spec) {
    const std::string name = f.value("name", "");
    const std::string type = f.value("type", "");
    const bool required = f.value("required", false);
    auto it = a.find(name);
    if (it == a.end() || it->is_null()) {
      if (required) return absl::InvalidArgumentError(fmt::format("'fields.{}' is required", name));
      continue;
    }
    if (type == "checkbox") {
      if (!it->is_boolean()) return absl::InvalidArgumentError(fmt::format("'fields.{}' must be true or false", name));
      if (required && !it->get<bool>()) {
        return absl::InvalidArgumentError(fmt::format("'fields.{}' must be checked", name));
      }
    } else {
      if (!it->is_string()) return absl::InvalidArgumentError(fmt::format("'fields.{}' must be a string", name));
      const std::string v = it->get<std::string>();
      if (v.size() > kMaxTextLength) return absl::InvalidArgumentError(fmt::format("'fields.{}' is too long", name));
      if (required && v.empty()) return absl::InvalidArgumentError(fmt::format("'fields.{}' is required", name));
      if (type == "select") {
        bool ok = false;
        for (const Json& o : f["options"]) ok = ok || o.get<std::string>() == v;
        if (!ok) return absl::InvalidArgumentError(fmt::format("'fields.{}' must be one of the options", name));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace aperture
