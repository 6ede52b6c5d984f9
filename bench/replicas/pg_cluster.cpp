// A PostgreSQL server of its own for bench/replicas/run.sh: starts a cluster
// (durable: fsync on, as in production) in a temporary directory, prints
// its URL base (postgresql://aperture@/DB?host=DIR with DB to fill in)
// and one new database's URL per line read from stdin, and stops the
// server when stdin closes.
#include <iostream>
#include <string>

#include "store/testing/postgres_cluster.h"

int main() {
  aperture::store::testing::PostgresCluster::Options options;
  options.durable = true;
  auto cluster = aperture::store::testing::PostgresCluster::Start(options);
  if (!cluster.ok()) {
    std::cerr << "pg_cluster: " << cluster.status() << "\n";
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    auto url = (*cluster)->CreateDatabase();
    if (!url.ok()) {
      std::cerr << "pg_cluster: " << url.status() << "\n";
      return 1;
    }
    std::cout << *url << std::endl;
  }
  return 0;
}
