#include "store/postgres/pg_migrations.h"

#include <array>

#include "fmt/format.h"

namespace aperture::store {
namespace {

// Append only: never edit a migration that has shipped.
constexpr std::array<const char*, 5> kMigrations = {
    // 1: the schema of SQLite migrations 1-8, in PostgreSQL's types. `seq`
    // columns keep insertion order where SQLite's rowid did (ties in
    // created_at); the transparency log keeps one row per full subtree
    // (PostgreSQL reads a proof's dozen rows in one statement) and finds
    // leaves by the first 8 bytes of their hash.
    R"sql(
CREATE TABLE principals (
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('member','reviewer','owner')),
  created_at BIGINT NOT NULL
);
CREATE TABLE api_keys (
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  id TEXT PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  hash BYTEA NOT NULL UNIQUE,
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL DEFAULT 0,
  revoked_at BIGINT NOT NULL DEFAULT 0,
  last_used_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_principal ON api_keys(principal_id);
CREATE TABLE models (
  id TEXT PRIMARY KEY,
  path TEXT NOT NULL,
  public_level INTEGER NOT NULL CHECK (public_level BETWEEN 0 AND 6),
  request_fields TEXT NOT NULL DEFAULT '[]',
  created_at BIGINT NOT NULL,
  system_prompt TEXT NOT NULL DEFAULT '',
  level_since BIGINT NOT NULL DEFAULT 0,
  ceiling INTEGER NOT NULL DEFAULT 6 CHECK (ceiling BETWEEN 0 AND 6),
  ceiling_reason TEXT NOT NULL DEFAULT ''
);
CREATE TABLE grants (
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  id TEXT PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  model_id TEXT NOT NULL REFERENCES models(id),
  level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 6),
  expires_at BIGINT NOT NULL DEFAULT 0,
  reason TEXT NOT NULL,
  granted_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  revoked_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX grants_principal_model_level ON grants(principal_id, model_id, level);
CREATE TABLE access_requests (
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  id TEXT PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  model_id TEXT NOT NULL REFERENCES models(id),
  level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 6),
  justification TEXT NOT NULL,
  fields TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('pending','approved','denied')),
  decided_by TEXT NOT NULL DEFAULT '',
  decision_reason TEXT NOT NULL DEFAULT '',
  grant_id TEXT NOT NULL DEFAULT '',
  created_at BIGINT NOT NULL,
  decided_at BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests(principal_id, model_id)
  WHERE state = 'pending';
CREATE TABLE usage (
  principal TEXT NOT NULL,
  model TEXT NOT NULL,
  day TEXT NOT NULL,
  requests BIGINT NOT NULL,
  prompt_tokens BIGINT NOT NULL,
  completion_tokens BIGINT NOT NULL,
  PRIMARY KEY (principal, model, day)
);
CREATE TABLE policies (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  source TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  text TEXT NOT NULL,
  loaded_at BIGINT NOT NULL
);
CREATE TABLE release_events (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model_id TEXT NOT NULL REFERENCES models(id),
  time BIGINT NOT NULL,
  kind TEXT NOT NULL,
  from_level INTEGER NOT NULL CHECK (from_level BETWEEN 0 AND 6),
  to_level INTEGER NOT NULL CHECK (to_level BETWEEN 0 AND 6),
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX release_events_model ON release_events(model_id, id);
CREATE TABLE eval_runs (
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  id TEXT PRIMARY KEY,
  model_id TEXT NOT NULL REFERENCES models(id),
  suite_name TEXT NOT NULL,
  suite_domain TEXT NOT NULL,
  suite_version TEXT NOT NULL,
  suite_sha256 TEXT NOT NULL,
  suite_path TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running','finished','failed','cancelled')),
  total_items BIGINT NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}',
  tiers TEXT NOT NULL DEFAULT '{}',
  results_sha256 TEXT NOT NULL DEFAULT '',
  started_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  finished_at BIGINT NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX eval_runs_model ON eval_runs(model_id, created_at);
CREATE TABLE eval_items (
  run_id TEXT NOT NULL REFERENCES eval_runs(id),
  idx BIGINT NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (run_id, idx)
);
CREATE TABLE log_entries (
  idx BIGINT PRIMARY KEY,
  entry BYTEA NOT NULL,
  prefix BIGINT NOT NULL
);
CREATE INDEX log_entries_prefix ON log_entries(prefix);
CREATE TABLE log_nodes (
  level SMALLINT NOT NULL,
  idx BIGINT NOT NULL,
  hash BYTEA NOT NULL,
  PRIMARY KEY (level, idx)
);
CREATE TABLE log_subjects (
  principal TEXT NOT NULL,
  idx BIGINT NOT NULL,
  PRIMARY KEY (principal, idx)
);
CREATE TABLE log_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size BIGINT NOT NULL,
  root BYTEA NOT NULL,
  origin TEXT NOT NULL,
  checkpoint TEXT NOT NULL,
  updated_at BIGINT NOT NULL
);
)sql",
    // 2: as SQLite migration 9 — research scopes narrowed per grant, and
    // research requests and tokens per day in usage.
    R"sql(
ALTER TABLE grants ADD COLUMN scope TEXT NOT NULL DEFAULT '{}';
ALTER TABLE usage ADD COLUMN research_requests BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN research_tokens BIGINT NOT NULL DEFAULT 0;
)sql",
    // 3: as SQLite migration 10 — remote backends, replicas, settings.
    R"sql(
ALTER TABLE models ADD COLUMN declared_digest TEXT NOT NULL DEFAULT '';
CREATE TABLE model_backends (
  seq BIGINT GENERATED ALWAYS AS IDENTITY,
  id TEXT PRIMARY KEY,
  model_id TEXT NOT NULL REFERENCES models(id),
  url TEXT NOT NULL,
  api_model TEXT NOT NULL,
  weight BIGINT NOT NULL CHECK (weight BETWEEN 1 AND 1000),
  api_key_env TEXT NOT NULL,
  added_by TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  UNIQUE (model_id, url)
);
CREATE TABLE replicas (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  started_at BIGINT NOT NULL,
  seen_at BIGINT NOT NULL
);
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
    // 4: as SQLite migration 11 — browser sessions (only the keyed hash of
    // the cookie's secret) and the owner's model cards.
    R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  hash BYTEA NOT NULL UNIQUE,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  key_id TEXT NOT NULL REFERENCES api_keys(id),
  created_at BIGINT NOT NULL,
  expires_at BIGINT NOT NULL,
  ended_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE TABLE model_cards (
  model_id TEXT PRIMARY KEY REFERENCES models(id),
  markdown TEXT NOT NULL,
  updated_at BIGINT NOT NULL,
  updated_by TEXT NOT NULL
);
)sql",
    // 5: as SQLite migration 12 — licences and their acceptances, openness
    // declarations, signed manifests and file digests.
    R"sql(
ALTER TABLE models ADD COLUMN licence_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN licence_levels BIGINT NOT NULL DEFAULT 0;
CREATE TABLE licences (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model_id TEXT NOT NULL REFERENCES models(id),
  spdx_id TEXT NOT NULL,
  name TEXT NOT NULL,
  text TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  accept_levels BIGINT NOT NULL,
  set_by TEXT NOT NULL,
  set_at BIGINT NOT NULL
);
CREATE INDEX licences_model ON licences(model_id, id);
CREATE TABLE licence_acceptances (
  principal_id TEXT NOT NULL REFERENCES principals(id),
  model_id TEXT NOT NULL REFERENCES models(id),
  licence_sha256 TEXT NOT NULL,
  accepted_at BIGINT NOT NULL,
  PRIMARY KEY (principal_id, model_id, licence_sha256)
);
CREATE TABLE openness_declarations (
  model_id TEXT NOT NULL REFERENCES models(id),
  component TEXT NOT NULL,
  url TEXT NOT NULL,
  licence TEXT NOT NULL,
  note TEXT NOT NULL,
  declared_by TEXT NOT NULL,
  declared_at BIGINT NOT NULL,
  PRIMARY KEY (model_id, component)
);
CREATE TABLE manifests (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  model_id TEXT NOT NULL REFERENCES models(id),
  root_sha256 TEXT NOT NULL,
  files TEXT NOT NULL,
  bundle TEXT NOT NULL,
  key_hint TEXT NOT NULL,
  log_entry TEXT NOT NULL,
  created_at BIGINT NOT NULL
);
CREATE INDEX manifests_model ON manifests(model_id, id);
CREATE TABLE file_digests (
  path TEXT PRIMARY KEY,
  identity TEXT NOT NULL,
  sha256 TEXT NOT NULL
);
)sql",
};

// Serialises migrations across processes (any fixed number will do).
constexpr int64_t kMigrationLock = 0x61707274'6d696772;  // "aprtmigr"

}  // namespace

absl::Status PgMigrate(PgPool& pool) { return PgMigrateTo(pool, static_cast<int64_t>(kMigrations.size())); }

absl::Status PgMigrateTo(PgPool& pool, int64_t target) {
  const int64_t latest = static_cast<int64_t>(kMigrations.size());
  for (;;) {
    bool done = false;
    absl::Status s = pool.Write([&](pqxx::work& tx) -> absl::Status {
      tx.exec_params("SELECT pg_advisory_xact_lock($1)", kMigrationLock);
      tx.exec(
          "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at TIMESTAMPTZ "
          "NOT NULL DEFAULT now())");
      const int64_t version = tx.exec("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")[0][0].as<int64_t>();
      if (version > latest) {
        return absl::FailedPreconditionError(fmt::format(
            "database schema version {} is newer than this binary knows ({}); upgrade aperture", version, latest));
      }
      if (version >= target) {
        done = true;
        return absl::OkStatus();
      }
      try {
        tx.exec(kMigrations[version]);
      } catch (const std::exception& e) {
        absl::Status failed = PgError(e, "postgresql");
        return absl::Status(failed.code(),
                            fmt::format("migration {} failed: {}", version + 1, std::string(failed.message())));
      }
      tx.exec_params("INSERT INTO schema_migrations (version) VALUES ($1)", version + 1);
      return absl::OkStatus();
    });
    if (!s.ok()) return s;
    if (done) return absl::OkStatus();
  }
}

}  // namespace aperture::store
