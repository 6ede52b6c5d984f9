#include "store/sqlite/sqlite_log_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/hash.h"
#include "core/random.h"
#include "fmt/format.h"
#include "store/sqlite/log_store_test_util.h"
#include "store/sqlite/migrations.h"
#include "store/sqlite/sqlite_db.h"
#include "store/sqlite/sqlite_log_tiles.h"

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

  // Two entries on an empty log, with the subtrees they complete.
  LogAppend FirstTwo() {
    LogAppend a;
    a.expected_size = 0;
    a.entries = {"e0", "e1"};
    a.leaf_hashes = {Hash32('a'), Hash32('b')};
    a.nodes = {{{0, 0}, Hash32('a')}, {{0, 1}, Hash32('b')}, {{1, 0}, Hash32('c')}};
    a.subjects = {{"prn_x", 0}, {"prn_y", 1}, {"prn_x", 1}};
    a.head = LogHead{2, Hash32('c'), "log.example", "signed note", 1700000000};
    return a;
  }

  std::filesystem::path dir_;
  std::unique_ptr<SqliteLogStore> store_;
};

TEST_F(SqliteLogStoreTest, StartsWithoutAHead) {
  auto head = store_->Head();
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
}

TEST_F(SqliteLogStoreTest, AppendsAtomicallyAndReadsBack) {
  ASSERT_TRUE(store_->Append(FirstTwo()).ok());
  auto head = store_->Head();
  ASSERT_TRUE(head.ok() && head->has_value());
  EXPECT_EQ((*head)->size, 2);
  EXPECT_EQ((*head)->root, Hash32('c'));
  EXPECT_EQ((*head)->origin, "log.example");
  EXPECT_EQ((*head)->checkpoint, "signed note");
  EXPECT_EQ(*store_->Entries(0, 2), (std::vector<std::string>{"e0", "e1"}));
  EXPECT_EQ(*store_->Nodes({{1, 0}, {0, 1}}), Hash32('c') + Hash32('b'));
  EXPECT_EQ(*store_->NodeRange(0, 0, 2), Hash32('a') + Hash32('b'));
  EXPECT_EQ(*store_->NodeRange(0, 1, 1), "");
  EXPECT_EQ(*store_->EntriesAbout("prn_x", -1, 10), (std::vector<int64_t>{0, 1}));
  EXPECT_EQ(*store_->EntriesAbout("prn_x", 0, 10), (std::vector<int64_t>{1}));
  EXPECT_EQ(*store_->EntriesAbout("prn_x", -1, 1), (std::vector<int64_t>{0}));
  EXPECT_EQ(*store_->FindLeaf(Hash32('b'), 2), std::optional<int64_t>(1));
  EXPECT_EQ(*store_->FindLeaf(Hash32('b'), 1), std::nullopt);
  EXPECT_EQ(*store_->FindLeaf(Hash32('z'), 2), std::nullopt);
  EXPECT_EQ(store_->Nodes({{2, 0}}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Entries(0, 3).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteLogStoreTest, AStaleAppendIsAbortedAndChangesNothing) {
  ASSERT_TRUE(store_->Append(FirstTwo()).ok());
  LogAppend stale = FirstTwo();  // also continues from size 0
  stale.entries = {"other"};
  stale.leaf_hashes = {Hash32('d')};
  stale.nodes = {};
  stale.subjects = {};
  stale.head.size = 1;
  EXPECT_EQ(store_->Append(stale).code(), absl::StatusCode::kAborted);
  EXPECT_EQ((*store_->Head())->size, 2);
  EXPECT_EQ(*store_->Entries(0, 2), (std::vector<std::string>{"e0", "e1"}));
}

TEST_F(SqliteLogStoreTest, AFailedAppendRollsBack) {
  ASSERT_TRUE(store_->Append(FirstTwo()).ok());
  LogAppend dup;
  dup.expected_size = 2;
  dup.entries = {"e2"};
  dup.leaf_hashes = {Hash32('e')};
  dup.nodes = {{{0, 2}, Hash32('e')}, {{0, 1}, Hash32('b')}};  // (0,1) exists: the insert fails
  dup.head = LogHead{3, Hash32('f'), "log.example", "n", 1};
  EXPECT_FALSE(store_->Append(dup).ok());
  EXPECT_EQ((*store_->Head())->size, 2);
  EXPECT_FALSE(store_->Entries(2, 3).ok());
  EXPECT_FALSE(store_->Nodes({{0, 2}}).ok());
}

TEST_F(SqliteLogStoreTest, RefusesAnInconsistentAppend) {
  LogAppend bad = FirstTwo();
  bad.head.size = 5;
  EXPECT_EQ(store_->Append(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = FirstTwo();
  bad.leaf_hashes.pop_back();
  EXPECT_EQ(store_->Append(bad).code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(SqliteLogStoreTest, SurvivesAReopen) {
  ASSERT_TRUE(store_->Append(FirstTwo()).ok());
  Reopen();
  EXPECT_EQ((*store_->Head())->size, 2);
  EXPECT_EQ(*store_->Entries(1, 2), std::vector<std::string>{"e1"});
}

TEST_F(SqliteLogStoreTest, FindsLeavesAcrossIndexBuckets) {
  // 70,000 leaves span many buckets of 2^12.
  LogAppend a = Leaves(0, 70000);
  for (auto& [id, hash] : a.nodes) {
    if (id.level != 0) continue;
    std::string h(32, '\0');
    for (int b = 0; b < 8; ++b) h[b] = static_cast<char>((id.index * 2654435761u) >> (b * 4));
    h[31] = static_cast<char>(id.index);
    a.leaf_hashes[id.index] = hash = h;
  }
  ASSERT_TRUE(store_->Append(a).ok());
  EXPECT_EQ(*store_->FindLeaf(a.leaf_hashes[69999], 70000), std::optional<int64_t>(69999));
  EXPECT_EQ(*store_->FindLeaf(a.leaf_hashes[3], 70000), std::optional<int64_t>(3));
  EXPECT_EQ(*store_->FindLeaf(a.leaf_hashes[69999], 69999), std::nullopt);
}

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

TEST_F(SqliteLogStoreTest, KeepsHashesAsTilesThatGrowWithEachAppend) {
  // Appends that end mid-tile, cross tile boundaries and complete a tile of
  // tile level 1 (2^16 leaves).
  int64_t size = 0;
  for (int64_t to : {1, 2, 3, 255, 256, 257, 700, 65535, 65536, 70001}) {
    ASSERT_TRUE(store_->Append(Leaves(size, to)).ok()) << to;
    size = to;
    for (int level : {0, 1, 5, 6, 7, 8, 12, 16}) {
      const int64_t count = size >> level;
      EXPECT_EQ(*store_->NodeRange(level, 0, count), ExpectedRange(level, 0, count)) << level << " at " << size;
      EXPECT_EQ(store_->NodeRange(level, 0, count + 1).status().code(), absl::StatusCode::kNotFound);
    }
  }
  // A served tile is one row's prefix: tile 0/272 and the partial 0/273.p/113.
  EXPECT_EQ(*store_->NodeRange(0, 272 * 256, 273 * 256), ExpectedRange(0, 272 * 256, 273 * 256));
  EXPECT_EQ(*store_->NodeRange(0, 273 * 256, 273 * 256 + 113), ExpectedRange(0, 273 * 256, 273 * 256 + 113));
  EXPECT_EQ(*store_->NodeRange(8, 0, 273), ExpectedRange(8, 0, 273));
  EXPECT_EQ(*store_->NodeRange(3, 1000, 5000), ExpectedRange(3, 1000, 5000));
  // The nodes of a proof, from several tiles at once.
  const std::vector<LogNodeId> ids = {{0, 69999}, {3, 12}, {16, 0}, {7, 545}, {0, 0}, {0, 70001}};
  EXPECT_EQ(store_->Nodes(ids).status().code(), absl::StatusCode::kNotFound);
  std::string want;
  for (size_t i = 0; i + 1 < ids.size(); ++i) want += NodeHashOf(ids[i].level, ids[i].index);
  EXPECT_EQ(*store_->Nodes(std::vector<LogNodeId>(ids.begin(), ids.end() - 1)), want);
  EXPECT_EQ(store_->Nodes({{-1, 0}}).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->Nodes({{63, 0}}).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SqliteLogStoreTest, RefusesNodesThatLeaveATileIncomplete) {
  ASSERT_TRUE(store_->Append(Leaves(0, 3)).ok());
  LogAppend missing_parent = Leaves(3, 4);
  missing_parent.nodes.pop_back();  // (2, 0): the four leaves complete it
  EXPECT_EQ(store_->Append(missing_parent).code(), absl::StatusCode::kInvalidArgument);
  LogAppend gap = Leaves(3, 4);
  gap.nodes[0].first.index = 5;
  EXPECT_EQ(store_->Append(gap).code(), absl::StatusCode::kInvalidArgument);
  LogAppend short_hash = Leaves(3, 4);
  short_hash.nodes[0].second = "short";
  EXPECT_EQ(store_->Append(short_hash).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*store_->Head())->size, 3);
  ASSERT_TRUE(store_->Append(Leaves(3, 4)).ok());
  EXPECT_EQ(*store_->Nodes({{2, 0}}), NodeHashOf(2, 0));
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
