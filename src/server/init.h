// First-time set-up of a data directory: secrets, database (or the tables of
// a PostgreSQL database), the first owner.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "server/data_dir.h"

namespace aperture {

// Creates the directory, its secrets and database, an owner principal named
// "owner" and its first key, which is returned (the only time it exists in
// plaintext). Refuses an initialised directory, changing nothing.
absl::StatusOr<std::string> InitializeDataDir(const DataDir& dir);

}  // namespace aperture
