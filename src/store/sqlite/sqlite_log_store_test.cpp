#include "store/sqlite/sqlite_log_store.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "core/random.h"

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
  EXPECT_EQ(*store_->Nodes({{1, 0}, {0, 1}}), (std::vector<std::string>{Hash32('c'), Hash32('b')}));
  EXPECT_EQ(*store_->NodeRange(0, 0, 2), (std::vector<std::string>{Hash32('a'), Hash32('b')}));
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
  // 70,000 leaves span two buckets of 2^16.
  LogAppend a;
  a.expected_size = 0;
  for (int64_t i = 0; i < 70000; ++i) {
    std::string h(32, '\0');
    for (int b = 0; b < 8; ++b) h[b] = static_cast<char>((i * 2654435761u) >> (b * 4));
    h[31] = static_cast<char>(i);
    a.entries.push_back("e");
    a.leaf_hashes.push_back(h);
    a.nodes.push_back({{0, i}, h});
  }
  a.head = LogHead{70000, Hash32('r'), "o", "n", 1};
  ASSERT_TRUE(store_->Append(a).ok());
  EXPECT_EQ(*store_->FindLeaf(a.leaf_hashes[69999], 70000), std::optional<int64_t>(69999));
  EXPECT_EQ(*store_->FindLeaf(a.leaf_hashes[3], 70000), std::optional<int64_t>(3));
  EXPECT_EQ(*store_->FindLeaf(a.leaf_hashes[69999], 69999), std::nullopt);
}

}  // namespace
}  // namespace aperture::store
