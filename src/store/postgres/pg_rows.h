// Reading query results into records and running statements whose
// constraint violations become statuses, shared by the PostgreSQL store's
// files (pg_store.cpp, pg_distribution.cpp).
//
// Thread-safety: stateless functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "store/postgres/pg_db.h"

namespace aperture::store::pg {

inline std::string Text(const pqxx::field& f) { return f.as<std::string>(); }
inline int64_t Int(const pqxx::field& f) { return f.as<int64_t>(); }

// Every row of `result` through `read`.
template <typename T, typename ReadFn>
std::vector<T> All(const pqxx::result& result, ReadFn read) {
  std::vector<T> out;
  out.reserve(result.size());
  for (const pqxx::row& row : result) out.push_back(read(row));
  return out;
}

// The first row through `read`; nullopt when there is none.
template <typename T, typename ReadFn>
std::optional<T> One(const pqxx::result& result, ReadFn read) {
  if (result.empty()) return std::nullopt;
  return read(result[0]);
}

inline absl::Status ExpectOneChange(const pqxx::result& r, std::string_view what, const std::string& id) {
  if (r.affected_rows() == 0) return absl::NotFoundError(fmt::format("no {} with id '{}'", what, id));
  return absl::OkStatus();
}

// libpqxx reports a violated constraint as an exception; the stores report
// it as a status the caller maps to its own message.
template <typename F>
absl::Status Statement(F&& fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const pqxx::sql_error& e) {
    return PgError(e, "postgresql");
  }
}

}  // namespace aperture::store::pg
