// The options every CLI command that works on a deployment's records takes:
// --data (the directory of the keys, and of the SQLite database by default)
// and --store (a PostgreSQL URL instead of the SQLite file; also read from
// APERTURE_STORE, so a password need not appear on a command line).
#pragma once

#include <string>

#include "CLI/CLI.hpp"

namespace aperture {

inline void AddDataOptions(CLI::App* command, std::string& data, std::string& store, bool data_required = true) {
  auto* d = command->add_option("--data", data, "data directory (its keys; its SQLite database unless --store)");
  if (data_required) d->required();
  command
      ->add_option("--store", store,
                   "the store's PostgreSQL URL, e.g. postgresql://aperture@db/aperture (default: the SQLite file "
                   "in --data); a password is better in PGPASSWORD or ~/.pgpass than here")
      ->envname("APERTURE_STORE");
}

}  // namespace aperture
