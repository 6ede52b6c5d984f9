#include "store/sqlite/sqlite_store.h"

#include <chrono>

#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/statement_rows.h"

namespace aperture::store {
namespace {

Principal ReadPrincipal(const Statement& s) {
  return Principal{s.Text(0), s.Text(1), ParseRole(s.Text(2)).value_or(Role::kMember), s.Int(3)};
}

ApiKey ReadKey(const Statement& s) {
  return ApiKey{s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Int(4), s.Int(5), s.Int(6)};
}

#define MODEL_COLS                                                                                            \
  "id, path, public_level, request_fields, created_at, system_prompt, level_since, ceiling, ceiling_reason, " \
  "declared_digest, licence_sha256, licence_levels"

Model ReadModel(const Statement& s) {
  return Model{s.Text(0),
               s.Text(1),
               static_cast<Level>(s.Int(2)),
               s.Text(3),
               s.Int(4),
               s.Text(5),
               s.Int(6),
               static_cast<Level>(s.Int(7)),
               s.Text(8),
               s.Text(9),
               s.Text(10),
               static_cast<uint32_t>(s.Int(11))};
}

#define BACKEND_COLS "id, model_id, url, api_model, weight, api_key_env, added_by, created_at"

ModelBackend ReadBackend(const Statement& s) {
  return ModelBackend{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Text(5), s.Text(6), s.Int(7)};
}

#define EVAL_RUN_COLS                                                                                        \
  "r.id, r.model_id, r.suite_name, r.suite_domain, r.suite_version, r.suite_sha256, r.suite_path, r.state, " \
  "r.total_items, (SELECT count(*) FROM eval_items i WHERE i.run_id = r.id), r.metrics, r.tiers, "           \
  "r.results_sha256, r.started_by, r.created_at, r.finished_at, r.error"

EvalRun ReadEvalRun(const Statement& s) {
  EvalRun r;
  r.id = s.Text(0);
  r.model_id = s.Text(1);
  r.suite_name = s.Text(2);
  r.suite_domain = s.Text(3);
  r.suite_version = s.Text(4);
  r.suite_sha256 = s.Text(5);
  r.suite_path = s.Text(6);
  r.state = ParseEvalRunState(s.Text(7)).value_or(EvalRunState::kFailed);
  r.total_items = s.Int(8);
  r.done_items = s.Int(9);
  r.metrics = s.Text(10);
  r.tiers = s.Text(11);
  r.results_sha256 = s.Text(12);
  r.started_by = s.Text(13);
  r.created_at = s.Int(14);
  r.finished_at = s.Int(15);
  r.error = s.Text(16);
  return r;
}

#define RELEASE_COLS "id, model_id, time, kind, from_level, to_level, actor, reason, details"

ReleaseEvent ReadReleaseEvent(const Statement& s) {
  return ReleaseEvent{
      s.Int(0),  s.Text(1), s.Int(2), s.Text(3), static_cast<Level>(s.Int(4)), static_cast<Level>(s.Int(5)),
      s.Text(6), s.Text(7), s.Text(8)};
}

UsageRow ReadUsage(const Statement& s) {
  return UsageRow{s.Text(0), s.Text(1), s.Text(2), s.Int(3), s.Int(4), s.Int(5), s.Int(6), s.Int(7)};
}

Grant ReadGrant(const Statement& s) {
  return Grant{s.Text(0), s.Text(1), s.Text(2), static_cast<Level>(s.Int(3)), s.Int(4), s.Text(5), s.Text(6),
               s.Int(7),  s.Int(8),  s.Text(9)};
}

AccessRequest ReadRequest(const Statement& s) {
  AccessRequest r;
  r.id = s.Text(0);
  r.principal_id = s.Text(1);
  r.model_id = s.Text(2);
  r.level = static_cast<Level>(s.Int(3));
  r.justification = s.Text(4);
  r.fields = s.Text(5);
  r.state = ParseRequestState(s.Text(6)).value_or(RequestState::kPending);
  r.decided_by = s.Text(7);
  r.decision_reason = s.Text(8);
  r.grant_id = s.Text(9);
  r.created_at = s.Int(10);
  r.decided_at = s.Int(11);
  return r;
}

// Every SqliteStore write, by any process, adds one in its transaction.
absl::StatusOr<int64_t> StoreChanges(SqliteDb& db) {
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("SELECT count FROM store_changes WHERE id = 1"));
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return absl::DataLossError("the store_changes row is missing");
  return stmt.Int(0);
}

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteStore>> SqliteStore::Open(const std::string& path, bool create) {
  if (path.empty() || path == ":memory:") {
    return absl::InvalidArgumentError("the SQLite store needs a file path");
  }
  std::unique_ptr<SqliteStore> store(new SqliteStore(path));
  ASSIGN_OR_RETURN(auto writer, SqliteDb::Open(path, create));
  RETURN_IF_ERROR(Migrate(*writer));
  ASSIGN_OR_RETURN(auto changes_db, SqliteDb::Open(path, /*create=*/false));
  ASSIGN_OR_RETURN(int64_t changes, StoreChanges(*changes_db));
  {
    absl::MutexLock lock(&store->changes_mu_);
    store->changes_db_ = std::move(changes_db);
    store->store_changes_ = changes;
  }
  absl::MutexLock lock(&store->write_mu_);
  store->writer_ = std::move(writer);
  return store;
}

uint64_t SqliteStore::CacheGeneration() {
  const int64_t now = std::chrono::steady_clock::now().time_since_epoch() / std::chrono::nanoseconds(1);
  if (now >= next_check_ns_.load(std::memory_order_relaxed) && changes_mu_.TryLock()) {
    next_check_ns_.store(now + AccessCache::kRecheckInterval / std::chrono::nanoseconds(1), std::memory_order_relaxed);
    absl::StatusOr<int64_t> changes = StoreChanges(*changes_db_);
    if (!changes.ok() || *changes != store_changes_) {
      cache_.Invalidate();
      if (changes.ok()) store_changes_ = *changes;
    }
    changes_mu_.Unlock();
  }
  return cache_.Generation();
}

template <typename F>
absl::Status SqliteStore::Write(F&& body, Cached cached) {
  absl::MutexLock lock(&write_mu_);
  SqliteDb& db = *writer_;
  if (cached == Cached::kUnchanged) return InTransaction(db, [&] { return body(db); });
  absl::Status status = InTransaction(db, [&]() -> absl::Status {
    RETURN_IF_ERROR(body(db));
    return db.Exec("UPDATE store_changes SET count = count + 1 WHERE id = 1");
  });
  cache_.Invalidate();
  return status;
}

absl::Status SqliteStore::WriteWith(const std::function<absl::Status(SqliteDb&)>& body, Cached cached) {
  return Write(body, cached);
}

// ---- principals

absl::Status SqliteStore::CreatePrincipal(const Principal& p) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO principals (id, name, role, created_at) VALUES (?, ?, ?, ?)"));
    absl::Status s = stmt.BindAll(p.id, p.name, RoleName(p.role), p.created_at).Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(fmt::format("a principal named '{}' already exists", p.name));
    }
    return s;
  });
}

absl::StatusOr<std::optional<Principal>> SqliteStore::FindPrincipal(const std::string& id) {
  const uint64_t generation = CacheGeneration();
  if (std::optional<Principal> cached = cache_.FindPrincipal(id)) return cached;
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT id, name, role, created_at FROM principals WHERE id = ?"));
  stmt.BindAll(id);
  ASSIGN_OR_RETURN(std::optional<Principal> principal, One<Principal>(stmt, ReadPrincipal));
  if (principal) cache_.PutPrincipal(generation, *principal);
  return principal;
}

absl::StatusOr<std::optional<Principal>> SqliteStore::FindPrincipalByName(const std::string& name) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT id, name, role, created_at FROM principals WHERE name = ?"));
  stmt.BindAll(name);
  return One<Principal>(stmt, ReadPrincipal);
}

absl::StatusOr<std::vector<Principal>> SqliteStore::ListPrincipals() {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT id, name, role, created_at FROM principals ORDER BY created_at, rowid"));
  return All<Principal>(stmt, ReadPrincipal);
}

// ---- keys

absl::Status SqliteStore::CreateApiKey(const ApiKey& k) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("INSERT INTO api_keys (id, principal_id, hash, created_at, expires_at) VALUES (?, ?, ?, ?, ?)"));
    stmt.BindAll(k.id, k.principal_id).BindBlob(3, k.hash).Bind(4, k.created_at).Bind(5, k.expires_at);
    return stmt.Run();
  });
}

absl::StatusOr<std::optional<ApiKey>> SqliteStore::FindApiKeyByHash(const std::string& hash) {
  const uint64_t generation = CacheGeneration();
  if (std::optional<ApiKey> cached = cache_.KeyByHash(hash)) return cached;
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT id, principal_id, hash, created_at, expires_at, revoked_at, last_used_at "
                              "FROM api_keys WHERE hash = ?"));
  stmt.BindBlob(1, hash);
  ASSIGN_OR_RETURN(std::optional<ApiKey> key, One<ApiKey>(stmt, ReadKey));
  if (key) cache_.PutKeyByHash(generation, hash, *key);
  return key;
}

absl::StatusOr<std::optional<ApiKey>> SqliteStore::FindApiKey(const std::string& id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT id, principal_id, hash, created_at, expires_at, revoked_at, last_used_at "
                              "FROM api_keys WHERE id = ?"));
  stmt.BindAll(id);
  return One<ApiKey>(stmt, ReadKey);
}

absl::StatusOr<std::vector<ApiKey>> SqliteStore::ListApiKeys(const std::string& principal_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT id, principal_id, hash, created_at, expires_at, revoked_at, last_used_at "
                              "FROM api_keys WHERE ?1 = '' OR principal_id = ?1 ORDER BY created_at, rowid"));
  stmt.BindAll(principal_id);
  return All<ApiKey>(stmt, ReadKey);
}

absl::Status SqliteStore::RevokeApiKey(const std::string& id, int64_t when) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare(
            "UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN ?2 ELSE revoked_at END WHERE id = ?1"));
    RETURN_IF_ERROR(stmt.BindAll(id, when).Run());
    return ExpectOneChange(db, "key", id);
  });
}

absl::Status SqliteStore::TouchApiKeys(const std::vector<std::pair<std::string, int64_t>>& id_and_time) {
  if (id_and_time.empty()) return absl::OkStatus();
  return Write(
      [&](SqliteDb& db) -> absl::Status {
        for (const auto& [id, when] : id_and_time) {
          ASSIGN_OR_RETURN(auto stmt,
                           db.Prepare("UPDATE api_keys SET last_used_at = MAX(last_used_at, ?2) WHERE id = ?1"));
          RETURN_IF_ERROR(stmt.BindAll(id, when).Run());
        }
        return absl::OkStatus();
      },
      Cached::kUnchanged);
}

// ---- models

absl::Status SqliteStore::CreateModel(const Model& m) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO models (id, path, public_level, request_fields, created_at, "
                                           "level_since, declared_digest) VALUES (?, ?, ?, ?, ?, ?, ?)"));
    absl::Status s = stmt.BindAll(m.id, m.path, static_cast<int64_t>(m.public_level), m.request_fields, m.created_at,
                                  m.level_since ? m.level_since : m.created_at, m.declared_digest)
                         .Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(fmt::format("a model with id '{}' already exists", m.id));
    }
    return s;
  });
}

absl::StatusOr<std::optional<Model>> SqliteStore::FindModel(const std::string& id) {
  CacheGeneration();  // empties the cache first if another process changed the database
  if (std::optional<std::optional<Model>> cached = cache_.FindModel(id)) return *cached;
  ASSIGN_OR_RETURN(std::vector<Model> models, ListModels());  // caches the list for the next call
  for (Model& m : models) {
    if (m.id == id) return std::optional<Model>(std::move(m));
  }
  return std::optional<Model>();
}

absl::StatusOr<std::vector<Model>> SqliteStore::ListModels() {
  const uint64_t generation = CacheGeneration();
  if (std::optional<std::vector<Model>> cached = cache_.Models()) return *std::move(cached);
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " MODEL_COLS " FROM models ORDER BY id"));
  ASSIGN_OR_RETURN(std::vector<Model> models, All<Model>(stmt, ReadModel));
  cache_.PutModels(generation, models);
  return models;
}

absl::Status SqliteStore::SetModelRequestFields(const std::string& id, const std::string& fields_json) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("UPDATE models SET request_fields = ? WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(fields_json, id).Run());
    return ExpectOneChange(db, "model", id);
  });
}

absl::Status SqliteStore::SetModelSystemPrompt(const std::string& id, const std::string& prompt) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("UPDATE models SET system_prompt = ? WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(prompt, id).Run());
    return ExpectOneChange(db, "model", id);
  });
}

// ---- model cards (not cached: only the model page reads them)

absl::Status SqliteStore::SetModelCard(const ModelCard& card) {
  return Write(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto exists, db.Prepare("SELECT 1 FROM models WHERE id = ?"));
        exists.BindAll(card.model_id);
        ASSIGN_OR_RETURN(bool found, exists.Step());
        if (!found) return absl::NotFoundError(fmt::format("no model with id '{}'", card.model_id));
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO model_cards (model_id, markdown, updated_at, updated_by) "
                                               "VALUES (?1, ?2, ?3, ?4) ON CONFLICT (model_id) DO UPDATE SET "
                                               "markdown = ?2, updated_at = ?3, updated_by = ?4"));
        return stmt.BindAll(card.model_id, card.markdown, card.updated_at, card.updated_by).Run();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::optional<ModelCard>> SqliteStore::FindModelCard(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT model_id, markdown, updated_at, updated_by FROM model_cards WHERE model_id = ?"));
  stmt.BindAll(model_id);
  return One<ModelCard>(stmt, [](const Statement& s) { return ModelCard{s.Text(0), s.Text(1), s.Int(2), s.Text(3)}; });
}

// ---- sessions (not cached: a session's end must apply to the next request)

absl::Status SqliteStore::CreateSession(const Session& session, int64_t prune_before) {
  return Write(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto prune, db.Prepare("DELETE FROM sessions WHERE expires_at < ?"));
        RETURN_IF_ERROR(prune.BindAll(prune_before).Run());
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO sessions (id, hash, principal_id, key_id, created_at, "
                                               "expires_at, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?)"));
        stmt.Bind(1, session.id).BindBlob(2, session.hash);
        stmt.Bind(3, session.principal_id).Bind(4, session.key_id);
        stmt.Bind(5, session.created_at).Bind(6, session.expires_at).Bind(7, session.ended_at);
        return stmt.Run();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::optional<Session>> SqliteStore::FindSessionByHash(const std::string& hash) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT id, hash, principal_id, key_id, created_at, expires_at, ended_at "
                                         "FROM sessions WHERE hash = ?"));
  stmt.BindBlob(1, hash);
  return One<Session>(stmt, [](const Statement& s) {
    return Session{s.Text(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4), s.Int(5), s.Int(6)};
  });
}

absl::Status SqliteStore::EndSession(const std::string& id, int64_t when) {
  return Write(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("UPDATE sessions SET ended_at = ?2 WHERE id = ?1 AND ended_at = 0"));
        RETURN_IF_ERROR(stmt.BindAll(id, when).Run());
        return ExpectOneChange(db, "active session", id);
      },
      Cached::kUnchanged);
}

absl::Status SqliteStore::SetModelDeclaredDigest(const std::string& id, const std::string& digest) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("UPDATE models SET declared_digest = ? WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(digest, id).Run());
    return ExpectOneChange(db, "model", id);
  });
}

// ---- model backends

absl::Status SqliteStore::CreateModelBackend(const ModelBackend& b) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto model, db.Prepare("SELECT 1 FROM models WHERE id = ?"));
    model.BindAll(b.model_id);
    ASSIGN_OR_RETURN(bool found, model.Step());
    if (!found) return absl::NotFoundError(fmt::format("no model with id '{}'", b.model_id));
    ASSIGN_OR_RETURN(auto stmt,
                     db.Prepare("INSERT INTO model_backends (" BACKEND_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    absl::Status s =
        stmt.BindAll(b.id, b.model_id, b.url, b.api_model, b.weight, b.api_key_env, b.added_by, b.created_at).Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(
          fmt::format("model '{}' already has a backend at {} (or the weight is not 1-1000)", b.model_id, b.url));
    }
    return s;
  });
}

absl::StatusOr<std::vector<ModelBackend>> SqliteStore::ListModelBackends(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " BACKEND_COLS " FROM model_backends WHERE ?1 = '' OR model_id = ?1 "
                                         "ORDER BY model_id, created_at, rowid"));
  stmt.BindAll(model_id);
  return All<ModelBackend>(stmt, ReadBackend);
}

absl::Status SqliteStore::SetModelBackendWeight(const std::string& id, int64_t weight) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("UPDATE model_backends SET weight = ? WHERE id = ?"));
    absl::Status s = stmt.BindAll(weight, id).Run();
    if (absl::IsAlreadyExists(s)) return absl::InvalidArgumentError("a backend's weight is 1 to 1000");
    RETURN_IF_ERROR(s);
    return ExpectOneChange(db, "backend", id);
  });
}

absl::Status SqliteStore::DeleteModelBackend(const std::string& id) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("DELETE FROM model_backends WHERE id = ?"));
    RETURN_IF_ERROR(stmt.BindAll(id).Run());
    return ExpectOneChange(db, "backend", id);
  });
}

// ---- grants

#define GRANT_COLS "id, principal_id, model_id, level, expires_at, reason, granted_by, created_at, revoked_at, scope"

static absl::Status InsertGrant(SqliteDb& db, const Grant& g) {
  ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO grants (" GRANT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)"));
  absl::Status s = stmt.BindAll(g.id, g.principal_id, g.model_id, static_cast<int64_t>(g.level), g.expires_at, g.reason,
                                g.granted_by, g.created_at, g.scope.empty() ? std::string("{}") : g.scope)
                       .Run();
  if (absl::IsAlreadyExists(s)) {
    return absl::NotFoundError("the grant names a principal or model that does not exist");
  }
  return s;
}

absl::Status SqliteStore::CreateGrant(const Grant& g) {
  return Write([&](SqliteDb& db) { return InsertGrant(db, g); });
}

absl::StatusOr<std::optional<Grant>> SqliteStore::FindGrant(const std::string& id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " GRANT_COLS " FROM grants WHERE id = ?"));
  stmt.BindAll(id);
  return One<Grant>(stmt, ReadGrant);
}

absl::StatusOr<std::vector<Grant>> SqliteStore::ListGrants(const std::string& principal_id,
                                                           const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " GRANT_COLS " FROM grants WHERE (?1 = '' OR principal_id = ?1) "
                                         "AND (?2 = '' OR model_id = ?2) ORDER BY created_at DESC, rowid DESC"));
  stmt.BindAll(principal_id, model_id);
  return All<Grant>(stmt, ReadGrant);
}

absl::StatusOr<std::optional<Grant>> SqliteStore::FindActiveGrant(const std::string& principal_id,
                                                                  const std::string& model_id, int64_t now) {
  const uint64_t generation = CacheGeneration();
  if (auto cached = cache_.ActiveGrant(principal_id, model_id, now)) return *cached;
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(
      auto stmt, r->Prepare("SELECT " GRANT_COLS " FROM grants WHERE principal_id = ?1 AND model_id = ?2 "
                            "AND revoked_at = 0 AND (expires_at = 0 OR expires_at > ?3) ORDER BY level DESC LIMIT 1"));
  stmt.BindAll(principal_id, model_id, now);
  ASSIGN_OR_RETURN(std::optional<Grant> grant, One<Grant>(stmt, ReadGrant));
  cache_.PutActiveGrant(generation, principal_id, model_id, grant);
  return grant;
}

absl::Status SqliteStore::RevokeGrant(const std::string& id, int64_t when) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare(
            "UPDATE grants SET revoked_at = CASE WHEN revoked_at = 0 THEN ?2 ELSE revoked_at END WHERE id = ?1"));
    RETURN_IF_ERROR(stmt.BindAll(id, when).Run());
    return ExpectOneChange(db, "grant", id);
  });
}

// ---- access requests

#define REQUEST_COLS                                                              \
  "id, principal_id, model_id, level, justification, fields, state, decided_by, " \
  "decision_reason, grant_id, created_at, decided_at"

absl::Status SqliteStore::CreateAccessRequest(const AccessRequest& r) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO access_requests (" REQUEST_COLS
                                           ") VALUES (?, ?, ?, ?, ?, ?, 'pending', '', '', '', ?, 0)"));
    absl::Status s = stmt.BindAll(r.id, r.principal_id, r.model_id, static_cast<int64_t>(r.level), r.justification,
                                  r.fields, r.created_at)
                         .Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError("there is already a pending access request for this model");
    }
    return s;
  });
}

absl::StatusOr<std::optional<AccessRequest>> SqliteStore::FindAccessRequest(const std::string& id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " REQUEST_COLS " FROM access_requests WHERE id = ?"));
  stmt.BindAll(id);
  return One<AccessRequest>(stmt, ReadRequest);
}

absl::StatusOr<std::vector<AccessRequest>> SqliteStore::ListAccessRequests(const std::string& principal_id,
                                                                           std::optional<RequestState> state) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT " REQUEST_COLS " FROM access_requests WHERE (?1 = '' OR principal_id = ?1) "
                              "AND (?2 = '' OR state = ?2) ORDER BY created_at DESC, rowid DESC"));
  stmt.BindAll(principal_id, state ? RequestStateName(*state) : std::string_view());
  return All<AccessRequest>(stmt, ReadRequest);
}

absl::Status SqliteStore::DecideAccessRequest(const AccessRequest& d, const std::optional<Grant>& grant) {
  return Write([&](SqliteDb& db) -> absl::Status {
    if (grant) RETURN_IF_ERROR(InsertGrant(db, *grant));
    ASSIGN_OR_RETURN(
        auto stmt,
        db.Prepare("UPDATE access_requests SET state = ?2, decided_by = ?3, decision_reason = ?4, grant_id = ?5, "
                   "decided_at = ?6 WHERE id = ?1 AND state = 'pending'"));
    RETURN_IF_ERROR(stmt.BindAll(d.id, RequestStateName(d.state), d.decided_by, d.decision_reason,
                                 grant ? grant->id : std::string(), d.decided_at)
                        .Run());
    if (db.Changes() == 0) {
      return absl::FailedPreconditionError(
          fmt::format("access request '{}' does not exist or was already decided", d.id));
    }
    return absl::OkStatus();
  });
}

// ---- releases

absl::Status SqliteStore::AddReleaseEvent(const ReleaseEvent& e, ReleaseChange change) {
  return Write([&](SqliteDb& db) -> absl::Status {
    if (change != ReleaseChange::kNone) {
      ASSIGN_OR_RETURN(auto stmt,
                       db.Prepare(change == ReleaseChange::kPublicLevel
                                      ? "UPDATE models SET public_level = ?2, level_since = ?3 WHERE id = ?1"
                                      : "UPDATE models SET ceiling = ?2, ceiling_reason = ?4 WHERE id = ?1"));
      RETURN_IF_ERROR(stmt.BindAll(e.model_id, static_cast<int64_t>(e.to), e.time, e.reason).Run());
      RETURN_IF_ERROR(ExpectOneChange(db, "model", e.model_id));
    }
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO release_events (model_id, time, kind, from_level, to_level, "
                                           "actor, reason, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"));
    absl::Status s = stmt.BindAll(e.model_id, e.time, e.kind, static_cast<int64_t>(e.from), static_cast<int64_t>(e.to),
                                  e.actor, e.reason, e.details)
                         .Run();
    if (absl::IsAlreadyExists(s)) return absl::NotFoundError(fmt::format("no model with id '{}'", e.model_id));
    return s;
  });
}

absl::StatusOr<std::vector<ReleaseEvent>> SqliteStore::ListReleaseEvents(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " RELEASE_COLS " FROM release_events WHERE model_id = ? ORDER BY id"));
  stmt.BindAll(model_id);
  return All<ReleaseEvent>(stmt, ReadReleaseEvent);
}

// ---- policy

absl::Status SqliteStore::SavePolicy(const PolicyRecord& p) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt,
                     db.Prepare("INSERT INTO policies (source, sha256, text, loaded_at) VALUES (?, ?, ?, ?)"));
    return stmt.BindAll(p.source, p.sha256, p.text, p.loaded_at).Run();
  });
}

absl::StatusOr<std::optional<PolicyRecord>> SqliteStore::CurrentPolicy() {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT id, source, sha256, text, loaded_at FROM policies ORDER BY id DESC LIMIT 1"));
  return One<PolicyRecord>(stmt, [](const Statement& s) {
    return PolicyRecord{s.Int(0), s.Text(1), s.Text(2), s.Text(3), s.Int(4)};
  });
}

// ---- evaluation runs

absl::Status SqliteStore::CreateEvalRun(const EvalRun& run) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO eval_runs (id, model_id, suite_name, suite_domain, "
                                           "suite_version, suite_sha256, suite_path, state, total_items, started_by, "
                                           "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'running', ?, ?, ?)"));
    absl::Status s = stmt.BindAll(run.id, run.model_id, run.suite_name, run.suite_domain, run.suite_version,
                                  run.suite_sha256, run.suite_path, run.total_items, run.started_by, run.created_at)
                         .Run();
    if (absl::IsAlreadyExists(s)) {
      return absl::NotFoundError(fmt::format("no model with id '{}' (or the run id is taken)", run.model_id));
    }
    return s;
  });
}

absl::Status SqliteStore::AddEvalItems(const std::string& run_id,
                                       const std::vector<std::pair<int64_t, std::string>>& items) {
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto check, db.Prepare("SELECT state FROM eval_runs WHERE id = ?"));
    check.BindAll(run_id);
    ASSIGN_OR_RETURN(bool found, check.Step());
    if (!found) return absl::NotFoundError(fmt::format("no evaluation run with id '{}'", run_id));
    if (check.Text(0) != "running") {
      return absl::FailedPreconditionError(fmt::format("evaluation run '{}' is {}", run_id, check.Text(0)));
    }
    for (const auto& [index, json] : items) {
      ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO eval_items (run_id, idx, result) VALUES (?, ?, ?)"));
      absl::Status s = stmt.BindAll(run_id, index, json).Run();
      if (absl::IsAlreadyExists(s)) {
        return absl::AlreadyExistsError(fmt::format("item {} of run '{}' is already recorded", index, run_id));
      }
      RETURN_IF_ERROR(s);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> SqliteStore::ListEvalItems(const std::string& run_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT idx, result FROM eval_items WHERE run_id = ? ORDER BY idx"));
  stmt.BindAll(run_id);
  return All<std::pair<int64_t, std::string>>(
      stmt, [](const Statement& s) { return std::pair<int64_t, std::string>(s.Int(0), s.Text(1)); });
}

absl::Status SqliteStore::FinishEvalRun(const EvalRun& run) {
  if (run.state == EvalRunState::kRunning) return absl::InvalidArgumentError("a finished run cannot be running");
  return Write([&](SqliteDb& db) -> absl::Status {
    ASSIGN_OR_RETURN(auto stmt, db.Prepare("UPDATE eval_runs SET state = ?2, metrics = ?3, tiers = ?4, "
                                           "results_sha256 = ?5, finished_at = ?6, error = ?7 "
                                           "WHERE id = ?1 AND state = 'running'"));
    RETURN_IF_ERROR(stmt.BindAll(run.id, EvalRunStateName(run.state), run.metrics, run.tiers, run.results_sha256,
                                 run.finished_at, run.error)
                        .Run());
    if (db.Changes() == 0) {
      return absl::FailedPreconditionError(fmt::format("evaluation run '{}' does not exist or has ended", run.id));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<EvalRun>> SqliteStore::FindEvalRun(const std::string& id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " EVAL_RUN_COLS " FROM eval_runs r WHERE r.id = ?"));
  stmt.BindAll(id);
  return One<EvalRun>(stmt, ReadEvalRun);
}

absl::StatusOr<std::vector<EvalRun>> SqliteStore::ListEvalRuns(const std::string& model_id) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT " EVAL_RUN_COLS " FROM eval_runs r WHERE (?1 = '' OR r.model_id = ?1) "
                                         "ORDER BY r.created_at DESC, r.rowid DESC"));
  stmt.BindAll(model_id);
  return All<EvalRun>(stmt, ReadEvalRun);
}

// ---- usage

absl::Status SqliteStore::AddUsage(const std::vector<UsageRow>& deltas) {
  if (deltas.empty()) return absl::OkStatus();
  return Write(
      [&](SqliteDb& db) -> absl::Status {
        for (const UsageRow& u : deltas) {
          ASSIGN_OR_RETURN(
              auto stmt,
              db.Prepare("INSERT INTO usage (principal, model, day, requests, prompt_tokens, completion_tokens, "
                         "research_requests, research_tokens) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (principal, model, day) DO UPDATE SET "
                         "requests = requests + ?4, prompt_tokens = prompt_tokens + ?5, "
                         "completion_tokens = completion_tokens + ?6, research_requests = research_requests + ?7, "
                         "research_tokens = research_tokens + ?8"));
          RETURN_IF_ERROR(stmt.BindAll(u.principal, u.model, u.day, u.requests, u.prompt_tokens, u.completion_tokens,
                                       u.research_requests, u.research_tokens)
                              .Run());
        }
        return absl::OkStatus();
      },
      Cached::kUnchanged);  // flushed every second under load; no cached read depends on usage
}

absl::StatusOr<std::vector<UsageRow>> SqliteStore::ListUsage(const std::string& principal, const std::string& from_day,
                                                             const std::string& to_day) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(
      auto stmt,
      r->Prepare("SELECT principal, model, day, requests, prompt_tokens, completion_tokens, research_requests, "
                 "research_tokens FROM usage "
                 "WHERE (?1 = '' OR principal = ?1) AND day >= ?2 AND day <= ?3 ORDER BY day, principal, model"));
  stmt.BindAll(principal, from_day, to_day);
  return All<UsageRow>(stmt, ReadUsage);
}

// ---- replicas and settings

absl::Status SqliteStore::SaveReplica(const ReplicaRecord& r) {
  return Write(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("INSERT INTO replicas (id, address, started_at, seen_at) VALUES "
                                               "(?1, ?2, ?3, ?4) ON CONFLICT (id) DO UPDATE SET address = ?2, "
                                               "seen_at = MAX(seen_at, ?4)"));
        return stmt.BindAll(r.id, r.address, r.started_at, r.seen_at).Run();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::vector<ReplicaRecord>> SqliteStore::ListReplicas(int64_t seen_since) {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt,
                   r->Prepare("SELECT id, address, started_at, seen_at FROM replicas WHERE seen_at >= ? ORDER BY id"));
  stmt.Bind(1, seen_since);
  return All<ReplicaRecord>(stmt, [](const Statement& s) {
    return ReplicaRecord{s.Text(0), s.Text(1), s.Int(2), s.Int(3)};
  });
}

absl::Status SqliteStore::RemoveReplica(const std::string& id) {
  return Write(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto stmt, db.Prepare("DELETE FROM replicas WHERE id = ?"));
        return stmt.BindAll(id).Run();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::string> SqliteStore::KeepSetting(const std::string& name, const std::string& value) {
  std::string stored;
  RETURN_IF_ERROR(Write(
      [&](SqliteDb& db) -> absl::Status {
        ASSIGN_OR_RETURN(auto insert, db.Prepare("INSERT OR IGNORE INTO settings (name, value) VALUES (?, ?)"));
        RETURN_IF_ERROR(insert.BindAll(name, value).Run());
        ASSIGN_OR_RETURN(auto read, db.Prepare("SELECT value FROM settings WHERE name = ?"));
        read.BindAll(name);
        ASSIGN_OR_RETURN(bool found, read.Step());
        if (!found) return absl::DataLossError(fmt::format("setting '{}' vanished", name));
        stored = read.Text(0);
        return absl::OkStatus();
      },
      Cached::kUnchanged));
  return stored;
}

absl::Status SqliteStore::Ping() {
  ASSIGN_OR_RETURN(auto r, readers_.Acquire());
  ASSIGN_OR_RETURN(auto stmt, r->Prepare("SELECT count FROM store_changes WHERE id = 1"));
  return stmt.Step().status();
}

}  // namespace aperture::store
