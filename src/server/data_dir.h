// The data directory: the database, the server's Ed25519 signing key (log
// checkpoints), its ECDSA P-256 manifest key (signed manifests and
// transparency reports) and the secret that keys API-key hashes. Files are
// created by `aperture init`, mode 0600, in a directory of mode 0700. With a
// PostgreSQL store (--store), the directory holds only the three keys, and
// every replica on that store needs the same three (docs/deploy.md).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "distribution/ecdsa_key.h"

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
  std::string manifest_key() const { return path + "/manifest.key"; }
};

// Creates the directory and its secrets. Refuses (changing nothing) if the
// directory already holds a database or a key.
absl::Status InitDataDir(const DataDir& dir);

// Reads the key-hashing secret, refusing a missing directory or a secret
// others can read.
absl::StatusOr<std::string> ReadHashSecret(const DataDir& dir);

// The manifest signing key (unencrypted PKCS#8 PEM, mode 0600), created in
// a directory initialised before manifests existed. Refuses a key others
// can read or a damaged one.
absl::StatusOr<distribution::EcdsaP256Signer> OpenManifestKey(const DataDir& dir);

}  // namespace aperture
