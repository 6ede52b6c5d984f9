#include "store/postgres/pg_store.h"

#include <chrono>

#include "core/random.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"
#include "store/postgres/pg_migrations.h"
#include "store/postgres/pg_rows.h"

namespace aperture::store {
namespace {

constexpr char kChannel[] = "aperture_store";

// Session settings of every connection: a transaction left open by a
// stalled or cut-off client is ended by the server after 5 s (it would
// otherwise hold its locks), and a peer that vanished without closing its
// connection is noticed within about 8 s (keepalives).
constexpr char kSessionSetup[] =
    "SET application_name = 'aperture'; SET idle_in_transaction_session_timeout = '5s'; "
    "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3";

using pg::All;
using pg::ExpectOneChange;
using pg::Int;
using pg::One;
using pg::Statement;
using pg::Text;

#define PRINCIPAL_COLS "id, name, role, created_at"
Principal ReadPrincipal(const pqxx::row& r) {
  return Principal{Text(r[0]), Text(r[1]), ParseRole(Text(r[2])).value_or(Role::kMember), Int(r[3])};
}

#define KEY_COLS "id, principal_id, hash, created_at, expires_at, revoked_at, last_used_at"
ApiKey ReadKey(const pqxx::row& r) {
  return ApiKey{Text(r[0]), Text(r[1]), PgBytes(r[2]), Int(r[3]), Int(r[4]), Int(r[5]), Int(r[6])};
}

#define MODEL_COLS                                                                                            \
  "id, path, public_level, request_fields, created_at, system_prompt, level_since, ceiling, ceiling_reason, " \
  "declared_digest, licence_sha256, licence_levels"
Model ReadModel(const pqxx::row& r) {
  return Model{Text(r[0]),
               Text(r[1]),
               static_cast<Level>(Int(r[2])),
               Text(r[3]),
               Int(r[4]),
               Text(r[5]),
               Int(r[6]),
               static_cast<Level>(Int(r[7])),
               Text(r[8]),
               Text(r[9]),
               Text(r[10]),
               static_cast<uint32_t>(Int(r[11]))};
}

#define BACKEND_COLS "id, model_id, url, api_model, weight, api_key_env, added_by, created_at"
ModelBackend ReadBackend(const pqxx::row& r) {
  return ModelBackend{Text(r[0]), Text(r[1]), Text(r[2]), Text(r[3]), Int(r[4]), Text(r[5]), Text(r[6]), Int(r[7])};
}

#define GRANT_COLS "id, principal_id, model_id, level, expires_at, reason, granted_by, created_at, revoked_at, scope"
Grant ReadGrant(const pqxx::row& r) {
  return Grant{Text(r[0]), Text(r[1]), Text(r[2]), static_cast<Level>(Int(r[3])), Int(r[4]), Text(r[5]), Text(r[6]),
               Int(r[7]),  Int(r[8]),  Text(r[9])};
}

#define REQUEST_COLS                                                              \
  "id, principal_id, model_id, level, justification, fields, state, decided_by, " \
  "decision_reason, grant_id, created_at, decided_at"
AccessRequest ReadRequest(const pqxx::row& r) {
  AccessRequest a;
  a.id = Text(r[0]);
  a.principal_id = Text(r[1]);
  a.model_id = Text(r[2]);
  a.level = static_cast<Level>(Int(r[3]));
  a.justification = Text(r[4]);
  a.fields = Text(r[5]);
  a.state = ParseRequestState(Text(r[6])).value_or(RequestState::kPending);
  a.decided_by = Text(r[7]);
  a.decision_reason = Text(r[8]);
  a.grant_id = Text(r[9]);
  a.created_at = Int(r[10]);
  a.decided_at = Int(r[11]);
  return a;
}

#define RELEASE_COLS "id, model_id, time, kind, from_level, to_level, actor, reason, details"
ReleaseEvent ReadReleaseEvent(const pqxx::row& r) {
  return ReleaseEvent{
      Int(r[0]),  Text(r[1]), Int(r[2]), Text(r[3]), static_cast<Level>(Int(r[4])), static_cast<Level>(Int(r[5])),
      Text(r[6]), Text(r[7]), Text(r[8])};
}

#define EVAL_RUN_COLS                                                                                        \
  "r.id, r.model_id, r.suite_name, r.suite_domain, r.suite_version, r.suite_sha256, r.suite_path, r.state, " \
  "r.total_items, (SELECT count(*) FROM eval_items i WHERE i.run_id = r.id), r.metrics, r.tiers, "           \
  "r.results_sha256, r.started_by, r.created_at, r.finished_at, r.error"
EvalRun ReadEvalRun(const pqxx::row& r) {
  EvalRun e;
  e.id = Text(r[0]);
  e.model_id = Text(r[1]);
  e.suite_name = Text(r[2]);
  e.suite_domain = Text(r[3]);
  e.suite_version = Text(r[4]);
  e.suite_sha256 = Text(r[5]);
  e.suite_path = Text(r[6]);
  e.state = ParseEvalRunState(Text(r[7])).value_or(EvalRunState::kFailed);
  e.total_items = Int(r[8]);
  e.done_items = Int(r[9]);
  e.metrics = Text(r[10]);
  e.tiers = Text(r[11]);
  e.results_sha256 = Text(r[12]);
  e.started_by = Text(r[13]);
  e.created_at = Int(r[14]);
  e.finished_at = Int(r[15]);
  e.error = Text(r[16]);
  return e;
}

// Empties the cache when another store wrote (each store's notifications
// carry its own id: its own writes emptied its cache as they committed).
class Receiver final : public pqxx::notification_receiver {
 public:
  Receiver(pqxx::connection_base& c, AccessCache& cache, const std::string& self)
      : notification_receiver(c, kChannel), cache_(cache), self_(self) {}
  void operator()(const std::string& payload, int) override {
    if (payload != self_) cache_.Invalidate();
  }

 private:
  AccessCache& cache_;
  const std::string& self_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<PgStore>> PgStore::Open(const std::string& url, bool create) {
  ASSIGN_OR_RETURN(std::unique_ptr<PgPool> pool, PgPool::Open(url, kSessionSetup));
  RETURN_IF_ERROR(PgMigrate(*pool));
  std::unique_ptr<PgStore> store(new PgStore(std::move(pool)));
  store->listener_ = std::thread([raw = store.get()] { raw->Listen(); });
  return store;
}

PgStore::~PgStore() {
  stopping_.store(true);
  if (listener_.joinable()) listener_.join();
}

void PgStore::Listen() {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Receiver> receiver;
  bool warned = false;
  while (!stopping_.load()) {
    if (!conn) {
      absl::StatusOr<std::unique_ptr<pqxx::connection>> c = pool_->Connect();
      if (c.ok()) {
        try {
          receiver = std::make_unique<Receiver>(**c, cache_, id_);  // issues LISTEN
          conn = *std::move(c);
        } catch (const std::exception& e) {
          c = PgError(e, "LISTEN");
        }
      }
      if (!conn) {
        if (!warned) {
          spdlog::warn("the store's change listener cannot connect ({}); cached rows are not used until it does",
                       std::string(c.status().message()));
          warned = true;
        }
        std::this_thread::sleep_for(AccessCache::kRecheckInterval);
        continue;
      }
      // Rows cached before LISTEN took effect may predate a change whose
      // notification was missed.
      cache_.Invalidate();
      listening_.store(true, std::memory_order_release);
      if (warned) spdlog::info("the store's change listener is connected again");
      warned = false;
    }
    try {
      conn->await_notification(0, 100'000);  // wakes at least every 100 ms to check stopping_
    } catch (const std::exception& e) {
      listening_.store(false, std::memory_order_release);
      cache_.Invalidate();
      spdlog::warn("the store's change listener lost its connection ({}); reconnecting", e.what());
      warned = true;
      receiver.reset();
      conn.reset();
    }
  }
  listening_.store(false, std::memory_order_release);
  receiver.reset();
}

template <typename F>
absl::Status PgStore::Write(F&& body, Cached cached) {
  absl::Status status = pool_->Write([&](pqxx::work& tx) -> absl::Status {
    RETURN_IF_ERROR(body(tx));
    if (cached == Cached::kChanged) tx.exec_params("SELECT pg_notify($1, $2)", std::string(kChannel), id_);
    return absl::OkStatus();
  });
  if (cached == Cached::kChanged) cache_.Invalidate();
  return status;
}

absl::Status PgStore::WriteTx(const std::function<absl::Status(pqxx::work&)>& body, Cached cached) {
  return Write(body, cached);
}

// ---- principals

absl::Status PgStore::CreatePrincipal(const Principal& p) {
  absl::Status s = Write([&](pqxx::work& tx) {
    return Statement([&] {
      tx.exec_params("INSERT INTO principals (id, name, role, created_at) VALUES ($1, $2, $3, $4)", p.id, p.name,
                     std::string(RoleName(p.role)), p.created_at);
    });
  });
  if (absl::IsAlreadyExists(s))
    return absl::AlreadyExistsError(fmt::format("a principal named '{}' already exists", p.name));
  return s;
}

absl::StatusOr<std::optional<Principal>> PgStore::FindPrincipal(const std::string& id) {
  const uint64_t generation = cache_.Generation();
  const bool cache = listening();
  if (cache) {
    if (std::optional<Principal> cached = cache_.FindPrincipal(id)) return cached;
  }
  ASSIGN_OR_RETURN(std::optional<Principal> principal,
                   pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<Principal>> {
                     return One<Principal>(
                         tx.exec_params("SELECT " PRINCIPAL_COLS " FROM principals WHERE id = $1", id), ReadPrincipal);
                   }));
  if (principal && cache) cache_.PutPrincipal(generation, *principal);
  return principal;
}

absl::StatusOr<std::optional<Principal>> PgStore::FindPrincipalByName(const std::string& name) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<Principal>> {
    return One<Principal>(tx.exec_params("SELECT " PRINCIPAL_COLS " FROM principals WHERE name = $1", name),
                          ReadPrincipal);
  });
}

absl::StatusOr<std::vector<Principal>> PgStore::ListPrincipals() {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<Principal>> {
    return All<Principal>(tx.exec("SELECT " PRINCIPAL_COLS " FROM principals ORDER BY created_at, seq"), ReadPrincipal);
  });
}

// ---- keys

absl::Status PgStore::CreateApiKey(const ApiKey& k) {
  return Write([&](pqxx::work& tx) {
    return Statement([&] {
      tx.exec_params(
          "INSERT INTO api_keys (id, principal_id, hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)", k.id,
          k.principal_id, pqxx::binarystring(k.hash), k.created_at, k.expires_at);
    });
  });
}

absl::StatusOr<std::optional<ApiKey>> PgStore::FindApiKeyByHash(const std::string& hash) {
  const uint64_t generation = cache_.Generation();
  const bool cache = listening();
  if (cache) {
    if (std::optional<ApiKey> cached = cache_.KeyByHash(hash)) return cached;
  }
  ASSIGN_OR_RETURN(
      std::optional<ApiKey> key, pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<ApiKey>> {
        return One<ApiKey>(
            tx.exec_params("SELECT " KEY_COLS " FROM api_keys WHERE hash = $1", pqxx::binarystring(hash)), ReadKey);
      }));
  if (key && cache) cache_.PutKeyByHash(generation, hash, *key);
  return key;
}

absl::StatusOr<std::optional<ApiKey>> PgStore::FindApiKey(const std::string& id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<ApiKey>> {
    return One<ApiKey>(tx.exec_params("SELECT " KEY_COLS " FROM api_keys WHERE id = $1", id), ReadKey);
  });
}

absl::StatusOr<std::vector<ApiKey>> PgStore::ListApiKeys(const std::string& principal_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<ApiKey>> {
    return All<ApiKey>(tx.exec_params("SELECT " KEY_COLS " FROM api_keys WHERE $1::text = '' OR principal_id = $1 "
                                      "ORDER BY created_at, seq",
                                      principal_id),
                       ReadKey);
  });
}

absl::Status PgStore::RevokeApiKey(const std::string& id, int64_t when) {
  return Write([&](pqxx::work& tx) {
    return ExpectOneChange(
        tx.exec_params("UPDATE api_keys SET revoked_at = CASE WHEN revoked_at = 0 THEN $2 ELSE revoked_at END "
                       "WHERE id = $1",
                       id, when),
        "key", id);
  });
}

absl::Status PgStore::TouchApiKeys(const std::vector<std::pair<std::string, int64_t>>& id_and_time) {
  if (id_and_time.empty()) return absl::OkStatus();
  std::vector<std::string_view> ids;
  std::vector<int64_t> times;
  for (const auto& [id, when] : id_and_time) {
    ids.push_back(id);
    times.push_back(when);
  }
  return Write(
      [&](pqxx::work& tx) {
        tx.exec_params(
            "UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, t.used) "
            "FROM (SELECT id, MAX(used) AS used FROM unnest($1::text[], $2::bigint[]) AS u(id, used) GROUP BY id) t "
            "WHERE k.id = t.id",
            PgTextArray(ids), PgIntArray(times));
        return absl::OkStatus();
      },
      Cached::kUnchanged);
}

// ---- models

absl::Status PgStore::CreateModel(const Model& m) {
  absl::Status s = Write([&](pqxx::work& tx) {
    return Statement([&] {
      tx.exec_params(
          "INSERT INTO models (id, path, public_level, request_fields, created_at, level_since, declared_digest) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7)",
          m.id, m.path, static_cast<int64_t>(m.public_level), m.request_fields, m.created_at,
          m.level_since ? m.level_since : m.created_at, m.declared_digest);
    });
  });
  if (absl::IsAlreadyExists(s))
    return absl::AlreadyExistsError(fmt::format("a model with id '{}' already exists", m.id));
  return s;
}

absl::StatusOr<std::optional<Model>> PgStore::FindModel(const std::string& id) {
  ASSIGN_OR_RETURN(std::vector<Model> models, ListModels());  // cached, and kept for the next call
  for (Model& m : models) {
    if (m.id == id) return std::optional<Model>(std::move(m));
  }
  return std::optional<Model>();
}

absl::StatusOr<std::vector<Model>> PgStore::ListModels() {
  const uint64_t generation = cache_.Generation();
  const bool cache = listening();
  if (cache) {
    if (std::optional<std::vector<Model>> cached = cache_.Models()) return *std::move(cached);
  }
  ASSIGN_OR_RETURN(std::vector<Model> models,
                   pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<Model>> {
                     return All<Model>(tx.exec("SELECT " MODEL_COLS " FROM models ORDER BY id"), ReadModel);
                   }));
  if (cache) cache_.PutModels(generation, models);
  return models;
}

absl::Status PgStore::SetModelRequestFields(const std::string& id, const std::string& fields_json) {
  return Write([&](pqxx::work& tx) {
    return ExpectOneChange(tx.exec_params("UPDATE models SET request_fields = $2 WHERE id = $1", id, fields_json),
                           "model", id);
  });
}

absl::Status PgStore::SetModelSystemPrompt(const std::string& id, const std::string& prompt) {
  return Write([&](pqxx::work& tx) {
    return ExpectOneChange(tx.exec_params("UPDATE models SET system_prompt = $2 WHERE id = $1", id, prompt), "model",
                           id);
  });
}

absl::Status PgStore::SetModelDeclaredDigest(const std::string& id, const std::string& digest) {
  return Write([&](pqxx::work& tx) {
    return ExpectOneChange(tx.exec_params("UPDATE models SET declared_digest = $2 WHERE id = $1", id, digest), "model",
                           id);
  });
}

// ---- model cards (not cached: only the model page reads them)

absl::Status PgStore::SetModelCard(const ModelCard& card) {
  return Write(
      [&](pqxx::work& tx) -> absl::Status {
        if (tx.exec_params("SELECT 1 FROM models WHERE id = $1", card.model_id).empty()) {
          return absl::NotFoundError(fmt::format("no model with id '{}'", card.model_id));
        }
        return Statement([&] {
          tx.exec_params(
              "INSERT INTO model_cards (model_id, markdown, updated_at, updated_by) VALUES ($1, $2, $3, $4) "
              "ON CONFLICT (model_id) DO UPDATE SET markdown = $2, updated_at = $3, updated_by = $4",
              card.model_id, card.markdown, card.updated_at, card.updated_by);
        });
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::optional<ModelCard>> PgStore::FindModelCard(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<ModelCard>> {
    return One<ModelCard>(
        tx.exec_params("SELECT model_id, markdown, updated_at, updated_by FROM model_cards WHERE model_id = $1",
                       model_id),
        [](const pqxx::row& r) {
          return ModelCard{Text(r[0]), Text(r[1]), Int(r[2]), Text(r[3])};
        });
  });
}

// ---- sessions (not cached: a session's end must apply to the next request)

absl::Status PgStore::CreateSession(const Session& session, int64_t prune_before) {
  return Write(
      [&](pqxx::work& tx) {
        return Statement([&] {
          tx.exec_params("DELETE FROM sessions WHERE expires_at < $1", prune_before);
          tx.exec_params(
              "INSERT INTO sessions (id, hash, principal_id, key_id, created_at, expires_at, ended_at) "
              "VALUES ($1, $2, $3, $4, $5, $6, $7)",
              session.id, pqxx::binarystring(session.hash), session.principal_id, session.key_id, session.created_at,
              session.expires_at, session.ended_at);
        });
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::optional<Session>> PgStore::FindSessionByHash(const std::string& hash) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<Session>> {
    return One<Session>(tx.exec_params("SELECT id, hash, principal_id, key_id, created_at, expires_at, ended_at "
                                       "FROM sessions WHERE hash = $1",
                                       pqxx::binarystring(hash)),
                        [](const pqxx::row& r) {
                          return Session{Text(r[0]), PgBytes(r[1]), Text(r[2]), Text(r[3]),
                                         Int(r[4]),  Int(r[5]),     Int(r[6])};
                        });
  });
}

absl::Status PgStore::EndSession(const std::string& id, int64_t when) {
  return Write(
      [&](pqxx::work& tx) {
        return ExpectOneChange(
            tx.exec_params("UPDATE sessions SET ended_at = $2 WHERE id = $1 AND ended_at = 0", id, when),
            "active session", id);
      },
      Cached::kUnchanged);
}

// ---- model backends

absl::Status PgStore::CreateModelBackend(const ModelBackend& b) {
  return Write([&](pqxx::work& tx) -> absl::Status {
    if (tx.exec_params("SELECT 1 FROM models WHERE id = $1", b.model_id).empty()) {
      return absl::NotFoundError(fmt::format("no model with id '{}'", b.model_id));
    }
    absl::Status s = Statement([&] {
      tx.exec_params("INSERT INTO model_backends (" BACKEND_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", b.id,
                     b.model_id, b.url, b.api_model, b.weight, b.api_key_env, b.added_by, b.created_at);
    });
    if (absl::IsAlreadyExists(s)) {
      return absl::AlreadyExistsError(
          fmt::format("model '{}' already has a backend at {} (or the weight is not 1-1000)", b.model_id, b.url));
    }
    return s;
  });
}

absl::StatusOr<std::vector<ModelBackend>> PgStore::ListModelBackends(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<ModelBackend>> {
    return All<ModelBackend>(tx.exec_params("SELECT " BACKEND_COLS " FROM model_backends WHERE $1::text = '' OR "
                                            "model_id = $1 ORDER BY model_id, created_at, seq",
                                            model_id),
                             ReadBackend);
  });
}

absl::Status PgStore::SetModelBackendWeight(const std::string& id, int64_t weight) {
  return Write([&](pqxx::work& tx) -> absl::Status {
    pqxx::result r;
    absl::Status s =
        Statement([&] { r = tx.exec_params("UPDATE model_backends SET weight = $2 WHERE id = $1", id, weight); });
    if (absl::IsAlreadyExists(s)) return absl::InvalidArgumentError("a backend's weight is 1 to 1000");
    RETURN_IF_ERROR(s);
    return ExpectOneChange(r, "backend", id);
  });
}

absl::Status PgStore::DeleteModelBackend(const std::string& id) {
  return Write([&](pqxx::work& tx) {
    return ExpectOneChange(tx.exec_params("DELETE FROM model_backends WHERE id = $1", id), "backend", id);
  });
}

// ---- grants

static absl::Status InsertGrant(pqxx::work& tx, const Grant& g) {
  absl::Status s = Statement([&] {
    tx.exec_params("INSERT INTO grants (" GRANT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)", g.id,
                   g.principal_id, g.model_id, static_cast<int64_t>(g.level), g.expires_at, g.reason, g.granted_by,
                   g.created_at, g.scope.empty() ? std::string("{}") : g.scope);
  });
  if (absl::IsAlreadyExists(s)) return absl::NotFoundError("the grant names a principal or model that does not exist");
  return s;
}

absl::Status PgStore::CreateGrant(const Grant& g) {
  return Write([&](pqxx::work& tx) { return InsertGrant(tx, g); });
}

absl::StatusOr<std::optional<Grant>> PgStore::FindGrant(const std::string& id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<Grant>> {
    return One<Grant>(tx.exec_params("SELECT " GRANT_COLS " FROM grants WHERE id = $1", id), ReadGrant);
  });
}

absl::StatusOr<std::vector<Grant>> PgStore::ListGrants(const std::string& principal_id, const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<Grant>> {
    return All<Grant>(tx.exec_params("SELECT " GRANT_COLS " FROM grants WHERE ($1::text = '' OR principal_id = $1) "
                                     "AND ($2::text = '' OR model_id = $2) ORDER BY created_at DESC, seq DESC",
                                     principal_id, model_id),
                      ReadGrant);
  });
}

absl::StatusOr<std::optional<Grant>> PgStore::FindActiveGrant(const std::string& principal_id,
                                                              const std::string& model_id, int64_t now) {
  const uint64_t generation = cache_.Generation();
  const bool cache = listening();
  if (cache) {
    if (auto cached = cache_.ActiveGrant(principal_id, model_id, now)) return *cached;
  }
  ASSIGN_OR_RETURN(
      std::optional<Grant> grant, pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<Grant>> {
        return One<Grant>(tx.exec_params("SELECT " GRANT_COLS " FROM grants WHERE principal_id = $1 AND model_id = $2 "
                                         "AND revoked_at = 0 AND (expires_at = 0 OR expires_at > $3) "
                                         "ORDER BY level DESC LIMIT 1",
                                         principal_id, model_id, now),
                          ReadGrant);
      }));
  if (cache) cache_.PutActiveGrant(generation, principal_id, model_id, grant);
  return grant;
}

absl::Status PgStore::RevokeGrant(const std::string& id, int64_t when) {
  return Write([&](pqxx::work& tx) {
    return ExpectOneChange(
        tx.exec_params("UPDATE grants SET revoked_at = CASE WHEN revoked_at = 0 THEN $2 ELSE revoked_at END "
                       "WHERE id = $1",
                       id, when),
        "grant", id);
  });
}

// ---- access requests

absl::Status PgStore::CreateAccessRequest(const AccessRequest& r) {
  absl::Status s = Write([&](pqxx::work& tx) {
    return Statement([&] {
      tx.exec_params("INSERT INTO access_requests (" REQUEST_COLS
                     ") VALUES ($1, $2, $3, $4, $5, $6, 'pending', '', '', '', $7, 0)",
                     r.id, r.principal_id, r.model_id, static_cast<int64_t>(r.level), r.justification, r.fields,
                     r.created_at);
    });
  });
  if (absl::IsAlreadyExists(s)) {
    return absl::AlreadyExistsError("there is already a pending access request for this model");
  }
  return s;
}

absl::StatusOr<std::optional<AccessRequest>> PgStore::FindAccessRequest(const std::string& id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<AccessRequest>> {
    return One<AccessRequest>(tx.exec_params("SELECT " REQUEST_COLS " FROM access_requests WHERE id = $1", id),
                              ReadRequest);
  });
}

absl::StatusOr<std::vector<AccessRequest>> PgStore::ListAccessRequests(const std::string& principal_id,
                                                                       std::optional<RequestState> state) {
  const std::string state_name(state ? RequestStateName(*state) : std::string_view());
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<AccessRequest>> {
    return All<AccessRequest>(
        tx.exec_params("SELECT " REQUEST_COLS " FROM access_requests WHERE ($1::text = '' OR principal_id = $1) "
                       "AND ($2::text = '' OR state = $2) ORDER BY created_at DESC, seq DESC",
                       principal_id, state_name),
        ReadRequest);
  });
}

absl::Status PgStore::DecideAccessRequest(const AccessRequest& d, const std::optional<Grant>& grant) {
  return Write([&](pqxx::work& tx) -> absl::Status {
    if (grant) RETURN_IF_ERROR(InsertGrant(tx, *grant));
    pqxx::result r = tx.exec_params(
        "UPDATE access_requests SET state = $2, decided_by = $3, decision_reason = $4, grant_id = $5, "
        "decided_at = $6 WHERE id = $1 AND state = 'pending'",
        d.id, std::string(RequestStateName(d.state)), d.decided_by, d.decision_reason,
        grant ? grant->id : std::string(), d.decided_at);
    if (r.affected_rows() == 0) {
      return absl::FailedPreconditionError(
          fmt::format("access request '{}' does not exist or was already decided", d.id));
    }
    return absl::OkStatus();
  });
}

// ---- releases

absl::Status PgStore::AddReleaseEvent(const ReleaseEvent& e, ReleaseChange change) {
  return Write([&](pqxx::work& tx) -> absl::Status {
    if (change == ReleaseChange::kPublicLevel) {
      RETURN_IF_ERROR(ExpectOneChange(tx.exec_params("UPDATE models SET public_level = $2, level_since = $3 "
                                                     "WHERE id = $1",
                                                     e.model_id, static_cast<int64_t>(e.to), e.time),
                                      "model", e.model_id));
    } else if (change == ReleaseChange::kCeiling) {
      RETURN_IF_ERROR(ExpectOneChange(tx.exec_params("UPDATE models SET ceiling = $2, ceiling_reason = $3 "
                                                     "WHERE id = $1",
                                                     e.model_id, static_cast<int64_t>(e.to), e.reason),
                                      "model", e.model_id));
    }
    absl::Status s = Statement([&] {
      tx.exec_params(
          "INSERT INTO release_events (model_id, time, kind, from_level, to_level, actor, reason, details) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
          e.model_id, e.time, e.kind, static_cast<int64_t>(e.from), static_cast<int64_t>(e.to), e.actor, e.reason,
          e.details);
    });
    if (absl::IsAlreadyExists(s)) return absl::NotFoundError(fmt::format("no model with id '{}'", e.model_id));
    return s;
  });
}

absl::StatusOr<std::vector<ReleaseEvent>> PgStore::ListReleaseEvents(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<ReleaseEvent>> {
    return All<ReleaseEvent>(
        tx.exec_params("SELECT " RELEASE_COLS " FROM release_events WHERE model_id = $1 ORDER BY id", model_id),
        ReadReleaseEvent);
  });
}

// ---- policy

absl::Status PgStore::SavePolicy(const PolicyRecord& p) {
  return Write([&](pqxx::work& tx) {
    tx.exec_params("INSERT INTO policies (source, sha256, text, loaded_at) VALUES ($1, $2, $3, $4)", p.source, p.sha256,
                   p.text, p.loaded_at);
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<PolicyRecord>> PgStore::CurrentPolicy() {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<PolicyRecord>> {
    return One<PolicyRecord>(
        tx.exec("SELECT id, source, sha256, text, loaded_at FROM policies ORDER BY id DESC LIMIT 1"),
        [](const pqxx::row& r) {
          return PolicyRecord{Int(r[0]), Text(r[1]), Text(r[2]), Text(r[3]), Int(r[4])};
        });
  });
}

// ---- evaluation runs

absl::Status PgStore::CreateEvalRun(const EvalRun& run) {
  absl::Status s = Write([&](pqxx::work& tx) {
    return Statement([&] {
      tx.exec_params(
          "INSERT INTO eval_runs (id, model_id, suite_name, suite_domain, suite_version, suite_sha256, "
          "suite_path, state, total_items, started_by, created_at) "
          "VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9, $10)",
          run.id, run.model_id, run.suite_name, run.suite_domain, run.suite_version, run.suite_sha256, run.suite_path,
          run.total_items, run.started_by, run.created_at);
    });
  });
  if (absl::IsAlreadyExists(s)) {
    return absl::NotFoundError(fmt::format("no model with id '{}' (or the run id is taken)", run.model_id));
  }
  return s;
}

absl::Status PgStore::AddEvalItems(const std::string& run_id,
                                   const std::vector<std::pair<int64_t, std::string>>& items) {
  return Write([&](pqxx::work& tx) -> absl::Status {
    pqxx::result run = tx.exec_params("SELECT state FROM eval_runs WHERE id = $1 FOR UPDATE", run_id);
    if (run.empty()) return absl::NotFoundError(fmt::format("no evaluation run with id '{}'", run_id));
    const std::string state = Text(run[0][0]);
    if (state != "running")
      return absl::FailedPreconditionError(fmt::format("evaluation run '{}' is {}", run_id, state));
    for (const auto& item : items) {
      // Not a structured binding: clang 14 cannot capture one in a lambda.
      const int64_t index = item.first;
      absl::Status s = Statement([&] {
        tx.exec_params("INSERT INTO eval_items (run_id, idx, result) VALUES ($1, $2, $3)", run_id, index, item.second);
      });
      if (absl::IsAlreadyExists(s)) {
        return absl::AlreadyExistsError(fmt::format("item {} of run '{}' is already recorded", index, run_id));
      }
      RETURN_IF_ERROR(s);
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> PgStore::ListEvalItems(const std::string& run_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<std::pair<int64_t, std::string>>> {
    return All<std::pair<int64_t, std::string>>(
        tx.exec_params("SELECT idx, result FROM eval_items WHERE run_id = $1 ORDER BY idx", run_id),
        [](const pqxx::row& r) { return std::pair<int64_t, std::string>(Int(r[0]), Text(r[1])); });
  });
}

absl::Status PgStore::FinishEvalRun(const EvalRun& run) {
  if (run.state == EvalRunState::kRunning) return absl::InvalidArgumentError("a finished run cannot be running");
  return Write([&](pqxx::work& tx) -> absl::Status {
    pqxx::result r = tx.exec_params(
        "UPDATE eval_runs SET state = $2, metrics = $3, tiers = $4, results_sha256 = $5, finished_at = $6, "
        "error = $7 WHERE id = $1 AND state = 'running'",
        run.id, std::string(EvalRunStateName(run.state)), run.metrics, run.tiers, run.results_sha256, run.finished_at,
        run.error);
    if (r.affected_rows() == 0) {
      return absl::FailedPreconditionError(fmt::format("evaluation run '{}' does not exist or has ended", run.id));
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::optional<EvalRun>> PgStore::FindEvalRun(const std::string& id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::optional<EvalRun>> {
    return One<EvalRun>(tx.exec_params("SELECT " EVAL_RUN_COLS " FROM eval_runs r WHERE r.id = $1", id), ReadEvalRun);
  });
}

absl::StatusOr<std::vector<EvalRun>> PgStore::ListEvalRuns(const std::string& model_id) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<EvalRun>> {
    return All<EvalRun>(tx.exec_params("SELECT " EVAL_RUN_COLS " FROM eval_runs r WHERE ($1::text = '' OR "
                                       "r.model_id = $1) ORDER BY r.created_at DESC, r.seq DESC",
                                       model_id),
                        ReadEvalRun);
  });
}

// ---- usage

absl::Status PgStore::AddUsage(const std::vector<UsageRow>& deltas) {
  if (deltas.empty()) return absl::OkStatus();
  return Write(
      [&](pqxx::work& tx) {
        for (const UsageRow& u : deltas) {
          tx.exec_params(
              "INSERT INTO usage (principal, model, day, requests, prompt_tokens, completion_tokens, "
              "research_requests, research_tokens) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) "
              "ON CONFLICT (principal, model, day) DO UPDATE SET requests = usage.requests + EXCLUDED.requests, "
              "prompt_tokens = usage.prompt_tokens + EXCLUDED.prompt_tokens, "
              "completion_tokens = usage.completion_tokens + EXCLUDED.completion_tokens, "
              "research_requests = usage.research_requests + EXCLUDED.research_requests, "
              "research_tokens = usage.research_tokens + EXCLUDED.research_tokens",
              u.principal, u.model, u.day, u.requests, u.prompt_tokens, u.completion_tokens, u.research_requests,
              u.research_tokens);
        }
        return absl::OkStatus();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::vector<UsageRow>> PgStore::ListUsage(const std::string& principal, const std::string& from_day,
                                                         const std::string& to_day) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<UsageRow>> {
    return All<UsageRow>(tx.exec_params("SELECT principal, model, day, requests, prompt_tokens, completion_tokens, "
                                        "research_requests, research_tokens FROM usage "
                                        "WHERE ($1::text = '' OR principal = $1) AND day >= $2 AND day <= $3 "
                                        "ORDER BY day, principal, model",
                                        principal, from_day, to_day),
                         [](const pqxx::row& r) {
                           return UsageRow{Text(r[0]), Text(r[1]), Text(r[2]), Int(r[3]),
                                           Int(r[4]),  Int(r[5]),  Int(r[6]),  Int(r[7])};
                         });
  });
}

// ---- replicas and settings

absl::Status PgStore::SaveReplica(const ReplicaRecord& r) {
  return Write(
      [&](pqxx::work& tx) {
        tx.exec_params(
            "INSERT INTO replicas (id, address, started_at, seen_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, "
            "seen_at = GREATEST(replicas.seen_at, EXCLUDED.seen_at)",
            r.id, r.address, r.started_at, r.seen_at);
        return absl::OkStatus();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::vector<ReplicaRecord>> PgStore::ListReplicas(int64_t seen_since) {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::StatusOr<std::vector<ReplicaRecord>> {
    return All<ReplicaRecord>(
        tx.exec_params("SELECT id, address, started_at, seen_at FROM replicas WHERE seen_at >= $1 ORDER BY id",
                       seen_since),
        [](const pqxx::row& r) {
          return ReplicaRecord{Text(r[0]), Text(r[1]), Int(r[2]), Int(r[3])};
        });
  });
}

absl::Status PgStore::RemoveReplica(const std::string& id) {
  return Write(
      [&](pqxx::work& tx) {
        tx.exec_params("DELETE FROM replicas WHERE id = $1", id);
        return absl::OkStatus();
      },
      Cached::kUnchanged);
}

absl::StatusOr<std::string> PgStore::KeepSetting(const std::string& name, const std::string& value) {
  std::string stored;
  RETURN_IF_ERROR(Write(
      [&](pqxx::work& tx) -> absl::Status {
        tx.exec_params("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING", name, value);
        pqxx::result r = tx.exec_params("SELECT value FROM settings WHERE name = $1", name);
        if (r.empty()) return absl::DataLossError(fmt::format("setting '{}' vanished", name));
        stored = Text(r[0][0]);
        return absl::OkStatus();
      },
      Cached::kUnchanged));
  return stored;
}

absl::Status PgStore::Ping() {
  return pool_->Read([&](pqxx::nontransaction& tx) -> absl::Status {
    tx.exec("SELECT 1");
    return absl::OkStatus();
  });
}

}  // namespace aperture::store
