// Opens the store named by a location: a PostgreSQL URL
// (postgresql://... or postgres://..., see docs/deploy.md) or the path of a
// SQLite file (the default: DATA/aperture.db). The server and every CLI
// command open their stores through here, so one --store flag picks the
// backend everywhere.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "aperture/log_store.h"
#include "aperture/store.h"

namespace aperture::store {

bool IsPostgresUrl(std::string_view location);

// The location without a password, for messages and logs.
std::string RedactLocation(std::string_view location);

// `create`: a missing SQLite file is created (PostgreSQL databases must
// exist; their tables are created either way). Migrations are applied.
absl::StatusOr<std::unique_ptr<Store>> OpenStore(const std::string& location, bool create);
absl::StatusOr<std::unique_ptr<LogStore>> OpenLogStore(const std::string& location, bool create);

}  // namespace aperture::store
