// PostgresCluster: a PostgreSQL server of its own for tests and benchmarks,
// so `make test` needs no database set up beforehand. It runs the server
// binaries of the installed PostgreSQL (postgresql-15: /usr/lib/postgresql/
// 15/bin, or APERTURE_PG_BINDIR) on a cluster in a temporary directory,
// listening only on a unix socket there (no port to collide with another
// test). PostgreSQL refuses to run as root, so under root the server runs as
// the `postgres` system user (the postgresql package creates it), else as
// `nobody`.
//
// Limits: initdb takes seconds on a busy machine, so the first cluster of a
// machine boot initialises a template (kept under the temporary directory,
// reused by later clusters with a copy). The server gets SIGQUIT (immediate
// shutdown) when the thread that started it ends, so a test killed midway
// leaves no server behind; start it from a thread that lives as long as the
// cluster is used (the main thread; Shared() does). Durability is relaxed
// (fsync off) unless Options::durable: tests do not crash the database
// server itself, and benchmarks that compare with SQLite turn it on.
//
// Usage:
//   ASSIGN_OR_RETURN(PostgresCluster* pg, PostgresCluster::Shared());
//   ASSIGN_OR_RETURN(std::string url, pg->CreateDatabase());
//   auto store = store::PgStore::Open(url, /*create=*/true);
//
// Thread-safety: thread-safe.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace aperture::store::testing {

class PostgresCluster {
 public:
  struct Options {
    bool durable = false;  // fsync and full_page_writes on, as in production
    int max_connections = 200;
  };

  // Initialises and starts a cluster; ready to connect when it returns.
  static absl::StatusOr<std::unique_ptr<PostgresCluster>> Start(Options options);
  // One cluster per process, started on first use and stopped at exit.
  static absl::StatusOr<PostgresCluster*> Shared();
  // Stops the server (immediate shutdown) and removes the directory.
  ~PostgresCluster();

  // A new, empty database; returns its URL.
  absl::StatusOr<std::string> CreateDatabase();
  // The URL of database `name` on this cluster:
  // postgresql://aperture@/NAME?host=SOCKET_DIR
  std::string Url(const std::string& name) const;
  // The server's process id (the postmaster).
  pid_t pid() const { return pid_; }

 private:
  PostgresCluster() = default;

  std::string dir_;  // holds data/, the socket and the server's log
  pid_t pid_ = -1;
  absl::Mutex mu_;
  int databases_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace aperture::store::testing
