#include "store/open_store.h"

#include "core/status_macros.h"
#include "store/postgres/pg_log_store.h"
#include "store/postgres/pg_store.h"
#include "store/sqlite/sqlite_log_store.h"
#include "store/sqlite/sqlite_store.h"

namespace aperture::store {

bool IsPostgresUrl(std::string_view location) {
  return location.starts_with("postgresql://") || location.starts_with("postgres://");
}

std::string RedactLocation(std::string_view location) {
  if (!IsPostgresUrl(location)) return std::string(location);
  // scheme://user:password@host... -> scheme://user:***@host...
  const size_t scheme = location.find("://") + 3;
  const size_t at = location.find('@', scheme);
  const size_t slash = location.find('/', scheme);
  if (at == std::string_view::npos || (slash != std::string_view::npos && slash < at)) return std::string(location);
  const size_t colon = location.find(':', scheme);
  if (colon == std::string_view::npos || colon > at) return std::string(location);
  return std::string(location.substr(0, colon + 1)) + "***" + std::string(location.substr(at));
}

absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& location, bool create) {
  if (IsPostgresUrl(location)) {
    ASSIGN_OR_RETURN(auto store, PgStore::Open(location, create));
    return std::unique_ptr<Store>(std::move(store));
  }
  ASSIGN_OR_RETURN(auto store, SqliteStore::Open(location, create));
  return std::unique_ptr<Store>(std::move(store));
}

absl::StatusOr<std::unique_ptr<LogStore>> OpenLogStore(const std::string& location, bool create) {
  if (IsPostgresUrl(location)) {
    ASSIGN_OR_RETURN(auto store, PgLogStore::Open(location, create));
    return std::unique_ptr<LogStore>(std::move(store));
  }
  ASSIGN_OR_RETURN(auto store, SqliteLogStore::Open(location, create));
  return std::unique_ptr<LogStore>(std::move(store));
}

}  // namespace aperture::store
