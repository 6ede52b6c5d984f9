#include "store/testing/test_stores.h"

#include "core/random.h"
#include "core/status_macros.h"
#include "store/open_store.h"
#include "store/testing/postgres_cluster.h"

namespace aperture::store::testing {

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

}  // namespace aperture::store::testing
