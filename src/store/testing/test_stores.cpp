#include "store/testing/test_stores.h"

#include <fstream>
#include <iterator>

#include "core/random.h"
#include "core/status_macros.h"
#include "store/open_store.h"
#include "store/postgres/pg_db.h"
#include "store/sqlite/sqlite_db.h"
#include "store/testing/postgres_cluster.h"

namespace aperture::store::testing {
namespace {
constexpr pqxx::oid kByteaOid = 17;
}  // namespace

std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kSqlite ? "Sqlite" : "Postgres";
}

absl::StatusOr<std::unique_ptr<TestDatabase>> TestDatabase::Create(Backend backend) {
  if (backend == Backend::kPostgres) {
    ASSIGN_OR_RETURN(PostgresCluster * cluster, PostgresCluster::Shared());
    ASSIGN_OR_RETURN(std::string url, cluster->CreateDatabase());
    return std::unique_ptr<TestDatabase>(new TestDatabase(backend, std::move(url), {}));
  }
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("aperture-store-" + NewId("t"));
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::InternalError("cannot create " + dir.string() + ": " + ec.message());
  std::string path = (dir / "aperture.db").string();
  return std::unique_ptr<TestDatabase>(new TestDatabase(backend, std::move(path), std::move(dir)));
}

TestDatabase::~TestDatabase() {
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

absl::StatusOr<std::unique_ptr<Store>> TestDatabase::OpenStore() const { return store::OpenStore(location_, true); }

absl::StatusOr<std::unique_ptr<LogStore>> TestDatabase::OpenLogStore() const {
  return store::OpenLogStore(location_, true);
}

absl::StatusOr<std::string> StoreBytes(const std::string& location) {
  if (!IsPostgresUrl(location)) {
    std::string bytes;
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::ifstream in(location + suffix, std::ios::binary);
      bytes.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    return bytes;
  }
  try {
    pqxx::connection c(location);
    pqxx::nontransaction tx(c);
    std::string bytes;
    for (const pqxx::row& table :
         tx.exec("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")) {
      const std::string name = table[0].as<std::string>();
      pqxx::result rows = tx.exec("SELECT * FROM " + tx.quote_name(name));
      for (const pqxx::row& row : rows) {
        for (pqxx::row::size_type i = 0; i < row.size(); ++i) {
          if (row[i].is_null()) continue;
          bytes += rows.column_type(i) == kByteaOid ? PgBytes(row[i]) : row[i].as<std::string>();
          bytes += '\n';
        }
      }
    }
    return bytes;
  } catch (const std::exception& e) {
    return PgError(e, "reading the test database");
  }
}

absl::Status TamperLogEntry(const std::string& location, int64_t index, const std::string& entry) {
  if (!IsPostgresUrl(location)) {
    ASSIGN_OR_RETURN(auto db, SqliteDb::Open(location, /*create=*/false));
    ASSIGN_OR_RETURN(auto stmt, db->Prepare("UPDATE log_entries SET entry = ? WHERE idx = ?"));
    RETURN_IF_ERROR(stmt.BindBlob(1, entry).Bind(2, index).Run());
    if (db->Changes() != 1) return absl::NotFoundError("no such entry");
    return absl::OkStatus();
  }
  try {
    pqxx::connection c(location);
    pqxx::nontransaction tx(c);
    pqxx::result r =
        tx.exec_params("UPDATE log_entries SET entry = $1 WHERE idx = $2", pqxx::binarystring(entry), index);
    if (r.affected_rows() != 1) return absl::NotFoundError("no such entry");
    return absl::OkStatus();
  } catch (const std::exception& e) {
    return PgError(e, "tampering with the test database");
  }
}

}  // namespace aperture::store::testing
