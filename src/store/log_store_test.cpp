// The LogStore contract, tested on every backend (SQLite and PostgreSQL),
// and the log built on it by sequencers in several processes at once.
#include <gtest/gtest.h>
#include <sodium.h>

#include <atomic>
#include <set>
#include <thread>

#include "core/clock.h"
#include "store/testing/log_store_test_util.h"
#include "store/testing/test_stores.h"
#include "translog/log_reader.h"
#include "translog/log_verifier.h"
#include "translog/note.h"
#include "translog/sequencer.h"

namespace aperture::store {
namespace {

using testing::Backend;
using testing::TestDatabase;

std::string Hash32(char fill) { return std::string(32, fill); }

class LogStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto db = TestDatabase::Create(GetParam());
    ASSERT_TRUE(db.ok()) << db.status();
    db_ = std::move(*db);
    Reopen();
  }
  void TearDown() override { store_.reset(); }
  void Reopen() {
    store_.reset();
    auto s = db_->OpenLogStore();
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

  std::unique_ptr<TestDatabase> db_;
  std::unique_ptr<LogStore> store_;
};

TEST_P(LogStoreTest, StartsWithoutAHead) {
  auto head = store_->Head();
  ASSERT_TRUE(head.ok());
  EXPECT_FALSE(head->has_value());
}

TEST_P(LogStoreTest, AppendsAtomicallyAndReadsBack) {
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

TEST_P(LogStoreTest, AStaleAppendIsAbortedAndChangesNothing) {
  ASSERT_TRUE(store_->Append(FirstTwo()).ok());
  LogAppend stale = FirstTwo();  // also continues from size 0
  stale.entries = {"other"};
  stale.leaf_hashes = {Hash32('d')};
  stale.nodes = {{{0, 0}, Hash32('d')}};  // well formed: only the size is wrong
  stale.subjects = {};
  stale.head.size = 1;
  EXPECT_EQ(store_->Append(stale).code(), absl::StatusCode::kAborted);
  EXPECT_EQ((*store_->Head())->size, 2);
  EXPECT_EQ(*store_->Entries(0, 2), (std::vector<std::string>{"e0", "e1"}));
}

TEST_P(LogStoreTest, AFailedAppendRollsBack) {
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

TEST_P(LogStoreTest, RefusesAnInconsistentAppend) {
  LogAppend bad = FirstTwo();
  bad.head.size = 5;
  EXPECT_EQ(store_->Append(bad).code(), absl::StatusCode::kInvalidArgument);
  bad = FirstTwo();
  bad.leaf_hashes.pop_back();
  EXPECT_EQ(store_->Append(bad).code(), absl::StatusCode::kInvalidArgument);
}

TEST_P(LogStoreTest, SurvivesAReopen) {
  ASSERT_TRUE(store_->Append(FirstTwo()).ok());
  Reopen();
  EXPECT_EQ((*store_->Head())->size, 2);
  EXPECT_EQ(*store_->Entries(1, 2), std::vector<std::string>{"e1"});
}

TEST_P(LogStoreTest, FindsLeavesAcrossIndexBuckets) {
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

TEST_P(LogStoreTest, KeepsHashesAsTilesThatGrowWithEachAppend) {
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

TEST_P(LogStoreTest, RefusesNodesThatLeaveATileIncomplete) {
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

// Two stores on one database (two processes) racing to append at the same
// size: exactly one wins, the other is Aborted with nothing written.
TEST_P(LogStoreTest, OfTwoAppendsAtOneSizeExactlyOneLands) {
  auto other = db_->OpenLogStore();
  ASSERT_TRUE(other.ok()) << other.status();
  ASSERT_TRUE(store_->Append(Leaves(0, 10)).ok());
  for (int round = 0; round < 20; ++round) {
    const int64_t size = (*store_->Head())->size;
    LogAppend mine = Leaves(size, size + 3), theirs = Leaves(size, size + 5);
    for (std::string& e : theirs.entries) e += "-theirs";
    absl::Status a, b;
    std::thread t([&] { b = (*other)->Append(theirs); });
    a = store_->Append(mine);
    t.join();
    ASSERT_NE(a.ok(), b.ok()) << a << " / " << b;
    const absl::Status& lost = a.ok() ? b : a;
    EXPECT_EQ(lost.code(), absl::StatusCode::kAborted) << lost;
    const int64_t now = (*store_->Head())->size;
    EXPECT_EQ(now, size + (a.ok() ? 3 : 5));
    auto entries = store_->Entries(size, now);
    ASSERT_TRUE(entries.ok());
    for (const std::string& e : *entries) EXPECT_EQ(e.ends_with("-theirs"), !a.ok());
  }
}

// The log as the HTTP routes serve it, in process.
class ReaderSource : public translog::LogSource {
 public:
  explicit ReaderSource(LogStore& store) : reader_(store) {}
  absl::StatusOr<std::string> Checkpoint() override {
    auto head = reader_.Head();
    if (!head.ok()) return head.status();
    return head->checkpoint;
  }
  absl::StatusOr<std::vector<translog::Hash>> ConsistencyProof(int64_t old_size, int64_t new_size) override {
    return reader_.ConsistencyProof(old_size, new_size);
  }
  absl::StatusOr<std::string> Tile(const translog::TileRef& tile) override { return reader_.Tile(tile); }

 private:
  translog::LogReader reader_;
};

// Sequencers of three processes (one store each) appending at once, each
// durably: one tree, every acknowledged entry in it once, and the log
// verifies from scratch against the checkpoint every process publishes.
TEST_P(LogStoreTest, SequencersOfSeveralProcessesBuildOneTree) {
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  const std::string secret(reinterpret_cast<char*>(sk), sizeof sk);
  const std::string key =
      translog::Ed25519VerifierKey("log.example", std::string(reinterpret_cast<char*>(pk), sizeof pk));
  FakeClock clock;
  constexpr int kWriters = 3, kEach = 60;
  std::vector<std::unique_ptr<LogStore>> stores;
  std::vector<std::unique_ptr<translog::LogSequencer>> sequencers;
  for (int w = 0; w < kWriters; ++w) {
    auto s = db_->OpenLogStore();
    ASSERT_TRUE(s.ok()) << s.status();
    stores.push_back(std::move(*s));
    translog::LogSequencer::Options options;
    options.batch_delay = absl::Milliseconds(1);
    auto seq = translog::LogSequencer::Open(*stores.back(), secret, "log.example", clock, options);
    ASSERT_TRUE(seq.ok()) << seq.status();
    sequencers.push_back(std::move(*seq));
  }
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < kEach; ++i) {
        LogEvent e{"key.created",
                   1700000000,
                   "cli",
                   "",
                   "",
                   "ok",
                   "ok",
                   "{\"n\":\"" + std::to_string(w) + "/" + std::to_string(i) + "\"}"};
        if (i % 3 == 0) {
          if (!sequencers[w]->RecordDurably(e).ok()) ++failed;
        } else {
          sequencers[w]->Record(e);
        }
      }
      sequencers[w]->Flush();
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(failed.load(), 0);
  for (auto& seq : sequencers) EXPECT_EQ(seq->failed(), 0);

  const int64_t size = (*store_->Head())->size;
  EXPECT_EQ(size, kWriters * kEach);
  auto entries = store_->Entries(0, size);
  ASSERT_TRUE(entries.ok()) << entries.status();
  std::set<std::string> seen(entries->begin(), entries->end());
  EXPECT_EQ(seen.size(), static_cast<size_t>(kWriters * kEach));  // each once
  for (auto& s : stores) {
    ReaderSource source(*s);
    auto verified = translog::VerifyLog(source, *translog::NoteVerifier::Parse(key), std::nullopt);
    ASSERT_TRUE(verified.ok()) << verified.status();
    EXPECT_EQ(verified->state.size, size);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, LogStoreTest, testing::AllBackends(), testing::BackendName);

}  // namespace
}  // namespace aperture::store
