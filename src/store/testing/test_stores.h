// The store backends every store test runs against: a test suite is written
// once, against Store and LogStore, and instantiated for SQLite and
// PostgreSQL (INSTANTIATE_TEST_SUITE_P(Backends, T, AllBackends(),
// BackendName)). Each TestDatabase is a fresh, empty database: a SQLite file
// in a temporary directory, or a new database on the process's
// PostgresCluster.
//
// Thread-safety: a TestDatabase belongs to one test.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "aperture/log_store.h"
#include "aperture/store.h"

namespace aperture::store::testing {

enum class Backend { kSqlite, kPostgres };

inline auto AllBackends() { return ::testing::Values(Backend::kSqlite, Backend::kPostgres); }
std::string BackendName(const ::testing::TestParamInfo<Backend>& info);

class TestDatabase {
 public:
  static absl::StatusOr<std::unique_ptr<TestDatabase>> Create(Backend backend);
  ~TestDatabase();

  // The location OpenStore takes: the SQLite file's path or the URL.
  const std::string& location() const { return location_; }
  Backend backend() const { return backend_; }
  // A store on the database, as another process would open it.
  absl::StatusOr<std::unique_ptr<Store>> OpenStore() const;
  absl::StatusOr<std::unique_ptr<LogStore>> OpenLogStore() const;

 private:
  TestDatabase(Backend backend, std::string location, std::filesystem::path dir)
      : backend_(backend), location_(std::move(location)), dir_(std::move(dir)) {}
  Backend backend_;
  std::string location_;
  std::filesystem::path dir_;  // the SQLite file's directory, removed at the end
};

// Everything a database holds, as bytes to search: for SQLite the file and
// its -wal and -shm files; for PostgreSQL every row of every table, bytea
// columns as their raw bytes and the rest as text.
absl::StatusOr<std::string> StoreBytes(const std::string& location);

// Overwrites log entry `index` in place, as someone with write access to the
// database could (tests of the verifier).
absl::Status TamperLogEntry(const std::string& location, int64_t index, const std::string& entry);

}  // namespace aperture::store::testing
