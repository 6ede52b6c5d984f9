// What only the SQLite store does: noticing other processes' writes through
// the store_changes count (the Store contract itself is tested on every
// backend in store/store_test.cpp).
#include "store/sqlite/sqlite_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "core/random.h"
#include "store/sqlite/sqlite_db.h"

namespace aperture::store {
namespace {

class SqliteStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aperture-store-" + NewId("t"));
    std::filesystem::create_directories(dir_);
    store_ = Open();
    ASSERT_TRUE(store_->CreatePrincipal({"p1", "alice", Role::kMember, 10}).ok());
    ASSERT_TRUE(store_->CreateModel({"m1", "/x.gguf", Level::kHosted, "[]", 10}).ok());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<SqliteStore> Open() {
    auto s = SqliteStore::Open((dir_ / "db").string(), true);
    EXPECT_TRUE(s.ok()) << s.status();
    return std::move(*s);
  }
  std::filesystem::path dir_;
  std::unique_ptr<SqliteStore> store_;
};

// Commits that are not store writes (the transparency log's, which share the
// file, every few milliseconds under load) leave the cache as it is.
TEST_F(SqliteStoreTest, OnlyStoreWritesEmptyTheCache) {
  const std::string hash(32, '\x09');
  ASSERT_TRUE(store_->CreateApiKey({"k9", "p1", hash, 5, 0, 0, 0}).ok());
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);  // cached

  // A commit to the file that is not a store write.
  auto raw = SqliteDb::Open((dir_ / "db").string(), /*create=*/false);
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_TRUE((*raw)->Exec("UPDATE api_keys SET revoked_at = 99 WHERE id = 'k9'").ok());
  std::this_thread::sleep_for(AccessCache::kRecheckInterval * 2);
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);  // still the cached row
  // Nor do key-use times, written every second.
  ASSERT_TRUE(store_->TouchApiKeys({{"k9", 100}}).ok());
  ASSERT_TRUE(Open()->TouchApiKeys({{"k9", 101}}).ok());
  std::this_thread::sleep_for(AccessCache::kRecheckInterval * 2);
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 0);

  // A store write by another process: the cache empties at the next check.
  ASSERT_TRUE(Open()->CreatePrincipal({"p2", "bob", Role::kMember, 11}).ok());
  std::this_thread::sleep_for(AccessCache::kRecheckInterval * 2);
  EXPECT_EQ((*store_->FindApiKeyByHash(hash))->revoked_at, 99);
}

}  // namespace
}  // namespace aperture::store
