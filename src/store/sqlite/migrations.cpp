#include "store/sqlite/migrations.h"

#include <array>

#include "fmt/format.h"
#include "store/sqlite/sqlite_log_tiles.h"

namespace aperture::store {
namespace {

// Append only: never edit a migration that has shipped.
constexpr std::array<const char*, 12> kMigrations = {
    R"sql(
CREATE TABLE principals (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL CHECK (role IN ('member','reviewer','owner')),
  created_at INTEGER NOT NULL
);
CREATE TABLE api_keys (
  id TEXT PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  hash BLOB NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL DEFAULT 0,
  revoked_at INTEGER NOT NULL DEFAULT 0,
  last_used_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX api_keys_principal ON api_keys(principal_id);
CREATE TABLE models (
  id TEXT PRIMARY KEY,
  path TEXT NOT NULL,
  public_level INTEGER NOT NULL CHECK (public_level BETWEEN 0 AND 6),
  request_fields TEXT NOT NULL DEFAULT '[]',
  created_at INTEGER NOT NULL
);
CREATE TABLE grants (
  id TEXT PRIMARY KEY,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  model_id TEXT NOT NULL REFERENCES models(id),
  level INTEGER NOT NULL CHECK (level BETWEEN 0 AND 6),
  expires_at INTEGER NOT NULL DEFAULT 0,
  reason TEXT NOT NULL,
  granted_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX grants_principal_model ON grants(principal_id, model_id);
CREATE TABLE access_requests (
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
  created_at INTEGER NOT NULL,
  decided_at INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX access_requests_one_pending ON access_requests(principal_id, model_id)
  WHERE state = 'pending';
CREATE TABLE events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  type TEXT NOT NULL,
  time INTEGER NOT NULL,
  actor TEXT NOT NULL,
  model TEXT NOT NULL,
  level TEXT NOT NULL,
  outcome TEXT NOT NULL,
  reason TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX events_type ON events(type);
)sql",
    // 2: the transparency log (src/translog, docs/log_format.md). Nodes are
    // the hashes of full subtrees, keyed by level * 2^48 + index, so each
    // level is appended at its end and any proof is O(log n) point reads.
    // Leaf hashes are indexed by their first 8 bytes within buckets of 2^16
    // leaves, so appends touch only the newest bucket's pages.
    R"sql(
CREATE TABLE log_entries (
  idx INTEGER PRIMARY KEY,
  entry BLOB NOT NULL
);
CREATE TABLE log_nodes (
  id INTEGER PRIMARY KEY,
  hash BLOB NOT NULL
);
CREATE TABLE log_leaf_index (
  bucket INTEGER NOT NULL,
  prefix INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (bucket, prefix, idx)
) WITHOUT ROWID;
CREATE TABLE log_subjects (
  principal TEXT NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (principal, idx)
) WITHOUT ROWID;
CREATE TABLE log_head (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  size INTEGER NOT NULL,
  root BLOB NOT NULL,
  origin TEXT NOT NULL,
  checkpoint TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
)sql",
    // 3: serving — the owner's system prompt per model, and token usage per
    // principal, model and UTC day.
    R"sql(
ALTER TABLE models ADD COLUMN system_prompt TEXT NOT NULL DEFAULT '';
CREATE TABLE usage (
  principal TEXT NOT NULL,
  model TEXT NOT NULL,
  day TEXT NOT NULL,
  requests INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL,
  completion_tokens INTEGER NOT NULL,
  PRIMARY KEY (principal, model, day)
);
)sql",
    // 4: the log's per-entry indexes keyed by bucket of 2^12 leaves first, so
    // an append dirties only the newest bucket's few pages (keyed by
    // principal alone, a batch touched a page per principal and halved the
    // append rate). Look-ups walk the buckets.
    R"sql(
CREATE TABLE log_subjects_by_bucket (
  bucket INTEGER NOT NULL,
  principal TEXT NOT NULL,
  idx INTEGER NOT NULL,
  PRIMARY KEY (bucket, principal, idx)
) WITHOUT ROWID;
INSERT INTO log_subjects_by_bucket (bucket, principal, idx) SELECT idx >> 12, principal, idx FROM log_subjects;
DROP TABLE log_subjects;
ALTER TABLE log_subjects_by_bucket RENAME TO log_subjects;
UPDATE log_leaf_index SET bucket = idx >> 12;
)sql",
    // 5: events now live in the transparency log (log_entries); the
    // interim events table of migration 1 is gone.
    R"sql(
DROP TABLE events;
)sql",
    // 6: release policy and evaluations — the policy files put in force, when
    // each model reached its public level, its ceiling, its release history,
    // and evaluation runs with their per-item results.
    R"sql(
ALTER TABLE models ADD COLUMN level_since INTEGER NOT NULL DEFAULT 0;
ALTER TABLE models ADD COLUMN ceiling INTEGER NOT NULL DEFAULT 6 CHECK (ceiling BETWEEN 0 AND 6);
ALTER TABLE models ADD COLUMN ceiling_reason TEXT NOT NULL DEFAULT '';
UPDATE models SET level_since = created_at;
-- The highest active grant is the first row backwards along this index
-- (ORDER BY level DESC without a temporary b-tree on every request).
DROP INDEX grants_principal_model;
CREATE INDEX grants_principal_model_level ON grants(principal_id, model_id, level);
CREATE TABLE policies (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  source TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  text TEXT NOT NULL,
  loaded_at INTEGER NOT NULL
);
CREATE TABLE release_events (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_id TEXT NOT NULL REFERENCES models(id),
  time INTEGER NOT NULL,
  kind TEXT NOT NULL,
  from_level INTEGER NOT NULL CHECK (from_level BETWEEN 0 AND 6),
  to_level INTEGER NOT NULL CHECK (to_level BETWEEN 0 AND 6),
  actor TEXT NOT NULL,
  reason TEXT NOT NULL,
  details TEXT NOT NULL
);
CREATE INDEX release_events_model ON release_events(model_id, id);
CREATE TABLE eval_runs (
  id TEXT PRIMARY KEY,
  model_id TEXT NOT NULL REFERENCES models(id),
  suite_name TEXT NOT NULL,
  suite_domain TEXT NOT NULL,
  suite_version TEXT NOT NULL,
  suite_sha256 TEXT NOT NULL,
  suite_path TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('running','finished','failed','cancelled')),
  total_items INTEGER NOT NULL,
  metrics TEXT NOT NULL DEFAULT '{}',
  tiers TEXT NOT NULL DEFAULT '{}',
  results_sha256 TEXT NOT NULL DEFAULT '',
  started_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  finished_at INTEGER NOT NULL DEFAULT 0,
  error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX eval_runs_model ON eval_runs(model_id, created_at);
CREATE TABLE eval_items (
  run_id TEXT NOT NULL REFERENCES eval_runs(id),
  idx INTEGER NOT NULL,
  result TEXT NOT NULL,
  PRIMARY KEY (run_id, idx)
) WITHOUT ROWID;
)sql",
    // 7: the log's tree hashes in tiles of 6 levels, one row per tile, so a
    // proof reads a page or two (sqlite_log_tiles.h, docs/log_format.md).
    // log_tiles::ConvertNodesToTiles then moves the hashes of migration 2's
    // log_nodes over and drops it.
    R"sql(
CREATE TABLE log_tiles (
  id INTEGER PRIMARY KEY,
  hashes BLOB NOT NULL
);
)sql",
    // 8: a count of the access store's commits (SqliteStore bumps it in each
    // write), so a server notices another process's changes to the rows it
    // caches without mistaking its own log's commits for them.
    R"sql(
CREATE TABLE store_changes (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  count INTEGER NOT NULL
);
INSERT INTO store_changes (id, count) VALUES (1, 0);
)sql",
    // 9: research scopes narrowed per grant (a JSON object, docs/research.md),
    // and research requests and their forward-pass tokens per day in usage.
    R"sql(
ALTER TABLE grants ADD COLUMN scope TEXT NOT NULL DEFAULT '{}';
ALTER TABLE usage ADD COLUMN research_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE usage ADD COLUMN research_tokens INTEGER NOT NULL DEFAULT 0;
)sql",
    // 10: beyond one machine — models served by remote OpenAI-compatible
    // backends (with the digest their owner declares), the server processes
    // sharing the store, and settings every process must agree on.
    R"sql(
ALTER TABLE models ADD COLUMN declared_digest TEXT NOT NULL DEFAULT '';
CREATE TABLE model_backends (
  id TEXT PRIMARY KEY,
  model_id TEXT NOT NULL REFERENCES models(id),
  url TEXT NOT NULL,
  api_model TEXT NOT NULL,
  weight INTEGER NOT NULL CHECK (weight BETWEEN 1 AND 1000),
  api_key_env TEXT NOT NULL,
  added_by TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  UNIQUE (model_id, url)
);
CREATE TABLE replicas (
  id TEXT PRIMARY KEY,
  address TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  seen_at INTEGER NOT NULL
);
CREATE TABLE settings (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
)sql",
    // 11: the web interface — browser sessions (only the keyed hash of the
    // cookie's secret is kept) and the owner's model cards (Markdown).
    R"sql(
CREATE TABLE sessions (
  id TEXT PRIMARY KEY,
  hash BLOB NOT NULL UNIQUE,
  principal_id TEXT NOT NULL REFERENCES principals(id),
  key_id TEXT NOT NULL REFERENCES api_keys(id),
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  ended_at INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE TABLE model_cards (
  model_id TEXT PRIMARY KEY REFERENCES models(id),
  markdown TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  updated_by TEXT NOT NULL
);
)sql",
    // 12: downloads under licence (docs/downloads.md) and openness
    // (docs/openness.md): each model's licences (the latest in force, also
    // copied onto the model row so every request sees it), who accepted
    // which licence text, owners' openness declarations, signed manifests,
    // and the digests of model files by identity.
    R"sql(
ALTER TABLE models ADD COLUMN licence_sha256 TEXT NOT NULL DEFAULT '';
ALTER TABLE models ADD COLUMN licence_levels INTEGER NOT NULL DEFAULT 0;
CREATE TABLE licences (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_id TEXT NOT NULL REFERENCES models(id),
  spdx_id TEXT NOT NULL,
  name TEXT NOT NULL,
  text TEXT NOT NULL,
  sha256 TEXT NOT NULL,
  accept_levels INTEGER NOT NULL,
  set_by TEXT NOT NULL,
  set_at INTEGER NOT NULL
);
CREATE INDEX licences_model ON licences(model_id, id);
CREATE TABLE licence_acceptances (
  principal_id TEXT NOT NULL REFERENCES principals(id),
  model_id TEXT NOT NULL REFERENCES models(id),
  licence_sha256 TEXT NOT NULL,
  accepted_at INTEGER NOT NULL,
  PRIMARY KEY (principal_id, model_id, licence_sha256)
) WITHOUT ROWID;
CREATE TABLE openness_declarations (
  model_id TEXT NOT NULL REFERENCES models(id),
  component TEXT NOT NULL,
  url TEXT NOT NULL,
  licence TEXT NOT NULL,
  note TEXT NOT NULL,
  declared_by TEXT NOT NULL,
  declared_at INTEGER NOT NULL,
  PRIMARY KEY (model_id, component)
) WITHOUT ROWID;
CREATE TABLE manifests (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  model_id TEXT NOT NULL REFERENCES models(id),
  root_sha256 TEXT NOT NULL,
  files TEXT NOT NULL,
  bundle TEXT NOT NULL,
  key_hint TEXT NOT NULL,
  log_entry TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX manifests_model ON manifests(model_id, id);
CREATE TABLE file_digests (
  path TEXT PRIMARY KEY,
  identity TEXT NOT NULL,
  sha256 TEXT NOT NULL
);
)sql",
};

// Migrations that also run code: after their SQL, in the same transaction.
struct CodeStep {
  int64_t version;
  absl::Status (*run)(SqliteDb& db);
};
constexpr CodeStep kCodeSteps[] = {{7, log_tiles::ConvertNodesToTiles}};

absl::StatusOr<int64_t> UserVersion(SqliteDb& db) {
  auto stmt = db.Prepare("PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  auto row = stmt->Step();
  if (!row.ok()) return row.status();
  return *row ? stmt->Int(0) : 0;
}

}  // namespace

absl::Status Migrate(SqliteDb& db) { return MigrateTo(db, static_cast<int64_t>(kMigrations.size())); }

absl::Status MigrateTo(SqliteDb& db, int64_t target) {
  const int64_t latest = static_cast<int64_t>(kMigrations.size());
  for (;;) {
    bool done = false;
    // The version is read inside the write transaction, so two processes
    // starting at once never apply the same migration twice.
    absl::Status s = InTransaction(db, [&]() -> absl::Status {
      auto version = UserVersion(db);
      if (!version.ok()) return version.status();
      if (*version > latest) {
        return absl::FailedPreconditionError(fmt::format(
            "database schema version {} is newer than this binary knows ({}); upgrade aperture", *version, latest));
      }
      if (*version >= target) {
        done = true;
        return absl::OkStatus();
      }
      absl::Status step = db.Exec(kMigrations[*version]);
      for (const CodeStep& code : kCodeSteps) {
        if (step.ok() && code.version == *version + 1) step = code.run(db);
      }
      if (!step.ok()) {
        return absl::Status(step.code(),
                            fmt::format("migration {} failed: {}", *version + 1, std::string(step.message())));
      }
      return db.Exec(fmt::format("PRAGMA user_version = {}", *version + 1).c_str());
    });
    if (!s.ok()) return s;
    if (done) return absl::OkStatus();
  }
}

}  // namespace aperture::store
