// The data directory: the database, the server's Ed25519 signing key and the
// secret that keys API-key hashes. Files are created by `aperture init`,
// mode 0600, in a directory of mode 0700. With a PostgreSQL store (--store),
// the directory holds only the two keys, and every replica on that store
// needs the same two (docs/deploy.md).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace aperture {

struct DataDir {
  std::string path;
  // Where the store lives: "" for the SQLite file database(), or a
  // PostgreSQL URL (postgresql://...).
  std::string store = {};
  std::string database() const { return path + "/aperture.db"; }
  std::string store_location() const { return store.empty() ? database() : store; }
  std::string signing_key() const { return path + "/signing.key"; }
  std::string hash_secret() const { return path + "/hash.key"; }
};

// Creates the directory and its secrets. Refuses (changing nothing) if the
// directory already holds a database or a key.
absl::Status InitDataDir(const DataDir& dir);

// Reads the key-hashing secret, refusing a missing directory or a secret
// others can read.
absl::StatusOr<std::string> ReadHashSecret(const DataDir& dir);

}  // namespace aperture
