// The schema, as an ordered list of migrations applied once each at start.
#pragma once

#include "absl/status/status.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store {

// Applies every migration newer than the database's user_version, each in
// its own transaction. Refuses a database newer than this binary.
absl::Status Migrate(SqliteDb& db);
// The same, stopping at schema version `target` (tests build older databases).
absl::Status MigrateTo(SqliteDb& db, int64_t target);

}  // namespace aperture::store
