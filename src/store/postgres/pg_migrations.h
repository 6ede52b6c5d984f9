// The PostgreSQL schema, as numbered migrations applied in order (the
// SQLite store keeps its own list: src/store/sqlite/migrations.cpp). Each
// runs in its own transaction under an advisory lock, so replicas starting
// at once apply each migration exactly once; the versions applied are rows
// of schema_migrations.
//
// Adding a Store method that needs a table: append a migration here and one
// in the SQLite list (docs/store.md).
#pragma once

#include <cstdint>

#include "store/postgres/pg_db.h"

namespace aperture::store {

// Applies every migration the database lacks. FailedPrecondition when the
// database was migrated by a newer Aperture.
absl::Status PgMigrate(PgPool& pool);
// Up to `target` only (tests of a migration).
absl::Status PgMigrateTo(PgPool& pool, int64_t target);

}  // namespace aperture::store
