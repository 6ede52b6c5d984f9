// What only the SQLite log store does: its tiles, its leaf-index buckets and
// its migration of the old node rows (the LogStore contract itself is tested
// on every backend in store/log_store_test.cpp).
#include "store/sqlite/sqlite_log_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/hash.h"
#include "core/random.h"
#include "fmt/format.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_log_tiles.h"
#include "store/testing/log_store_test_util.h"

namespace aperture::store {
namespace {

std::string Hash32(char fill) { return std::string(32, fill); }

class SqliteLogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("aperture-logstore-" + NewId("t"));
    std::filesystem::create_directories(dir_);
    Reopen();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    store_.reset();
    auto s = SqliteLogStore::Open((dir_ / "log.db").string(), /*create=*/true);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteLogStore> store_;
};

// The leaf index gets a bucket's rows when the bucket fills (all at once, in
// prefix order); the bucket still filling is found by scanning its hashes.
TEST_F(SqliteLogStoreTest, IndexesEachBucketWhenItFills) {
  auto index_rows = [&] {
    auto db = SqliteDb::Open((dir_ / "log.db").string(), /*create=*/false);
    auto stmt = (*db)->Prepare("SELECT COUNT(*) FROM log_leaf_index");
    EXPECT_TRUE(*stmt->Step());
    return stmt->Int(0);
  };
  // A log written before kept rows for the filling bucket: completing it
  // must not trip over them.
  ASSERT_TRUE(store_->Append(Leaves(0, 100)).ok());
  {
    auto db = SqliteDb::Open((dir_ / "log.db").string(), /*create=*/false);
    const std::string prefix = NodeHashOf(0, 7).substr(0, 8);
    int64_t p = 0;
    for (char c : prefix) p = (p << 8) | static_cast<uint8_t>(c);
    ASSERT_TRUE((*db)->Exec(fmt::format("INSERT INTO log_leaf_index VALUES (0, {}, 7)", p).c_str()).ok());
  }
  const int64_t bucket = int64_t{1} << 12;
  const int64_t size = 9100;  // two whole buckets and some
  for (int64_t from = 100; from < size; from += 1000) {
    LogAppend a = Leaves(from, from + 1000);
    // Leaf 5000 repeats leaf 4100's hash; the first is the one found.
    for (int64_t i = from; i < from + 1000; ++i) {
      if (i != 5000) continue;
      a.leaf_hashes[i - from] = NodeHashOf(0, 4100);
      for (auto& [id, hash] : a.nodes) {
        if (id.level == 0 && id.index == i) hash = NodeHashOf(0, 4100);
      }
    }
    ASSERT_TRUE(store_->Append(a).ok());
    if (from + 1000 <= bucket) {
      EXPECT_EQ(index_rows(), 1) << from;  // only the older log's row
    }
  }
  EXPECT_EQ(index_rows(), 2 * bucket);  // two whole buckets; the third fills
  for (int64_t i : {int64_t{0}, int64_t{7}, bucket - 1, bucket, int64_t{4100}, 2 * bucket, size - 1}) {
    EXPECT_EQ(*store_->FindLeaf(NodeHashOf(0, i), size), std::optional<int64_t>(i)) << i;
  }
  EXPECT_EQ(*store_->FindLeaf(NodeHashOf(0, size - 1), size - 1), std::nullopt);
  EXPECT_EQ(*store_->FindLeaf(NodeHashOf(0, 5000), size), std::nullopt);  // never stored: 5000 holds 4100's
  Reopen();
  EXPECT_EQ(*store_->FindLeaf(NodeHashOf(0, size - 2), size), std::optional<int64_t>(size - 2));
}

// A database written before migration 7 keeps its tree: the hashes of
// log_nodes become tiles.
TEST_F(SqliteLogStoreTest, MigratesNodeRowsToTiles) {
  store_.reset();
  std::filesystem::remove_all(dir_);
  std::filesystem::create_directories(dir_);
  const std::string path = (dir_ / "log.db").string();
  const int64_t size = 70001;
  {
    auto db = SqliteDb::Open(path, /*create=*/true);
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE(MigrateTo(**db, 6).ok());
    ASSERT_TRUE((*db)->Exec("BEGIN").ok());
    for (int level = 0; (size >> level) > 0; ++level) {
      for (int64_t i = 0; i < (size >> level); ++i) {
        auto stmt = (*db)->Prepare("INSERT INTO log_nodes (id, hash) VALUES (?, ?)");
        ASSERT_TRUE(stmt->Bind(1, (int64_t{level} << 48) | i).BindBlob(2, NodeHashOf(level, i)).Run().ok());
      }
    }
    auto head = (*db)->Prepare("INSERT INTO log_head VALUES (1, ?, ?, 'o', 'n', 1)");
    ASSERT_TRUE(head->Bind(1, size).BindBlob(2, Hash32('r')).Run().ok());
    ASSERT_TRUE((*db)->Exec("COMMIT").ok());
  }
  Reopen();
  for (int level = 0; (size >> level) > 0; ++level) {
    EXPECT_EQ(*store_->NodeRange(level, 0, size >> level), ExpectedRange(level, 0, size >> level)) << level;
  }
  auto db = SqliteDb::Open(path, /*create=*/false);
  auto gone = (*db)->Prepare("SELECT COUNT(*) FROM sqlite_schema WHERE name = 'log_nodes'");
  ASSERT_TRUE(*gone->Step());
  EXPECT_EQ(gone->Int(0), 0);
  // The log goes on from there.
  ASSERT_TRUE(store_->Append(Leaves(size, size + 1000)).ok());
  EXPECT_EQ(*store_->NodeRange(0, 0, size + 1000), ExpectedRange(0, 0, size + 1000));
  EXPECT_EQ(*store_->NodeRange(9, 0, (size + 1000) >> 9), ExpectedRange(9, 0, (size + 1000) >> 9));
}

TEST(LogTilesTest, RowLayout) {
  EXPECT_EQ(log_tiles::HashesInRow(64), 126);
  EXPECT_EQ(log_tiles::HashesInRow(1), 1);
  EXPECT_EQ(log_tiles::HashesInRow(3), 4);
  for (int w = 1; w <= 64; ++w) EXPECT_EQ(log_tiles::WidthOfRow(log_tiles::HashesInRow(w) * 32), w);
  EXPECT_EQ(log_tiles::WidthOfRow(5 * 32), -1);  // 3 leaves hold 4 hashes, 4 hold 7
  EXPECT_EQ(log_tiles::WidthOfRow(33), -1);
  EXPECT_EQ(log_tiles::WidthOfRow(127 * 32), -1);
  EXPECT_EQ(log_tiles::PlaceOf({0, 129}).row, log_tiles::RowId(0, 2));
  EXPECT_EQ(log_tiles::PlaceOf({0, 129}).position, 1);
  EXPECT_EQ(log_tiles::PlaceOf({5, 3}).row, log_tiles::RowId(0, 1));
  EXPECT_EQ(log_tiles::PlaceOf({5, 3}).sub_level, 5);
  EXPECT_EQ(log_tiles::PlaceOf({5, 3}).position, 1);
  EXPECT_EQ(log_tiles::PlaceOf({9, 3}).row, log_tiles::RowId(1, 0));
  EXPECT_EQ(log_tiles::PlaceOf({9, 3}).sub_level, 3);
  EXPECT_EQ(log_tiles::PlaceOf({9, 3}).position, 3);
  EXPECT_EQ(log_tiles::PlaceOf({12, 70}).row, log_tiles::RowId(2, 1));
}

}  // namespace
}  // namespace aperture::store
