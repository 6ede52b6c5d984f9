// Reading rows of a prepared statement into records, shared by the SQLite
// store's files.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store {

// Collects every row of a prepared statement through `read`.
template <typename T, typename ReadFn>
absl::StatusOr<std::vector<T>> All(Statement& stmt, ReadFn read) {
  std::vector<T> out;
  for (;;) {
    ASSIGN_OR_RETURN(bool row, stmt.Step());
    if (!row) return out;
    out.push_back(read(stmt));
  }
}

// The first row through `read`; nullopt when there is none.
template <typename T, typename ReadFn>
absl::StatusOr<std::optional<T>> One(Statement& stmt, ReadFn read) {
  ASSIGN_OR_RETURN(bool row, stmt.Step());
  if (!row) return std::optional<T>();
  return std::optional<T>(read(stmt));
}

// NotFound naming the row when the last statement on `db` changed nothing.
inline absl::Status ExpectOneChange(SqliteDb& db, std::string_view what, const std::string& id) {
  if (db.Changes() == 0) return absl::NotFoundError(fmt::format("no {} with id '{}'", what, id));
  return absl::OkStatus();
}

}  // namespace aperture::store
