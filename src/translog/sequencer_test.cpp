#include "translog/sequencer.h"

#include <gtest/gtest.h>
#include <sched.h>

#include <sodium.h>

#include <set>
#include <thread>

#include "core/random.h"
#include "translog/checkpoint.h"
#include "translog/entry.h"
#include "translog/log_reader.h"
#include "translog/memory_log_store.h"

namespace aperture::translog {
namespace {

LogEvent Event(int i, const std::string& actor = "prn_alice") {
  return LogEvent{
      "access.decision", 1700000000 + i, actor, "m", "api", "allow", "ok", "{\"n\":" + std::to_string(i) + "}"};
}

class SequencerTest : public ::testing::Test {
 protected:
  SequencerTest() {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    secret_.assign(reinterpret_cast<char*>(sk), sizeof sk);
    public_key_.assign(reinterpret_cast<char*>(pk), sizeof pk);
  }

  std::unique_ptr<LogSequencer> Open(const std::string& origin = "test.example/log") {
    auto s = LogSequencer::Open(store_, secret_, origin, clock_);
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }

  // The checkpoint as published, verified with the public key.
  Checkpoint Published(const std::string& origin = "test.example/log") {
    auto head = LogReader(store_).Head();
    EXPECT_TRUE(head.ok());
    auto verifier = NoteVerifier::Parse(Ed25519VerifierKey(origin, public_key_));
    EXPECT_TRUE(verifier.ok());
    auto text = verifier->Open(head->checkpoint);
    EXPECT_TRUE(text.ok()) << text.status();
    auto c = ParseCheckpoint(*text);
    EXPECT_TRUE(c.ok());
    return *c;
  }

  Hash RootOfStoredEntries(int64_t size) {
    auto entries = store_.Entries(0, size);
    EXPECT_TRUE(entries.ok());
    std::vector<Hash> leaves;
    for (const auto& e : *entries) leaves.push_back(LeafHash(e));
    return ReferenceRoot(leaves);
  }

  FakeClock clock_;
  MemoryLogStore store_;
  std::string secret_, public_key_;
};

TEST_F(SequencerTest, AnEmptyLogPublishesASignedEmptyCheckpoint) {
  auto seq = Open();
  Checkpoint c = Published();
  EXPECT_EQ(c.origin, "test.example/log");
  EXPECT_EQ(c.size, 0);
  EXPECT_EQ(c.root, EmptyRoot());
}

TEST_F(SequencerTest, RecordDurablyReturnsOnceTheEntryIsCoveredByACheckpoint) {
  auto seq = Open();
  ASSERT_TRUE(seq->RecordDurably(Event(1)).ok());
  Checkpoint c = Published();
  EXPECT_EQ(c.size, 1);
  auto entries = store_.Entries(0, 1);
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ((*entries)[0], PrepareEntry(Event(1))->entry);
  EXPECT_EQ(c.root, LeafHash((*entries)[0]));
}

TEST_F(SequencerTest, AWaitedEntryIsCommittedWithoutWaitingOutTheBatchDelay) {
  // With an hour's batch delay, only the rule that a waited-for batch goes
  // at once lets these return.
  LogSequencer::Options options;
  options.batch_delay = absl::Hours(1);
  auto seq = LogSequencer::Open(store_, secret_, "test.example/log", clock_, options);
  ASSERT_TRUE(seq.ok()) << seq.status();
  (*seq)->Record(Event(1));
  ASSERT_TRUE((*seq)->RecordDurably(Event(2)).ok());
  EXPECT_EQ(Published().size, 2);
  (*seq)->Record(Event(3));
  (*seq)->Flush();
  EXPECT_EQ(Published().size, 3);
}

// In the background the writer runs at idle priority, and at normal priority
// while a backlog builds or someone waits for it.
TEST_F(SequencerTest, TheBackgroundWriterIsBoostedWhileNeeded) {
  LogSequencer::Options options;
  options.batch_delay = absl::Hours(1);  // nothing commits unless waited for
  options.background = true;
  options.boost_backlog = 4;
  auto seq = LogSequencer::Open(store_, secret_, "test.example/log", clock_, options);
  ASSERT_TRUE(seq.ok()) << seq.status();
  for (int i = 0; i < 200 && (*seq)->writer_policy() != SCHED_IDLE; ++i) absl::SleepFor(absl::Milliseconds(10));
  if ((*seq)->writer_policy() != SCHED_IDLE) GTEST_SKIP() << "this process may not leave idle priority";

  for (int i = 0; i < 3; ++i) (*seq)->Record(Event(i));
  EXPECT_EQ((*seq)->writer_policy(), SCHED_IDLE);
  (*seq)->Record(Event(3));  // the backlog reaches boost_backlog
  EXPECT_EQ((*seq)->writer_policy(), SCHED_OTHER);
  (*seq)->Flush();  // caught up: back to the background
  EXPECT_EQ(Published().size, 4);
  EXPECT_EQ((*seq)->writer_policy(), SCHED_IDLE);
  ASSERT_TRUE((*seq)->RecordDurably(Event(4)).ok());
  EXPECT_EQ(Published().size, 5);
  EXPECT_EQ((*seq)->writer_policy(), SCHED_IDLE);
}

TEST_F(SequencerTest, ConcurrentRecordsAllLandInOneConsistentTree) {
  auto seq = Open();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 500; ++i) seq->Record(Event(t * 1000 + i));
    });
  }
  for (auto& t : threads) t.join();
  seq->Flush();
  Checkpoint c = Published();
  EXPECT_EQ(c.size, 2000);
  EXPECT_EQ(c.root, RootOfStoredEntries(2000));
  EXPECT_EQ(seq->failed(), 0);
  // Every event is there exactly once.
  std::set<std::string> seen;
  auto entries = store_.Entries(0, 2000);
  ASSERT_TRUE(entries.ok());
  for (const auto& e : *entries) seen.insert(e);
  EXPECT_EQ(seen.size(), 2000u);
}

TEST_F(SequencerTest, TwoWritersOnOneStoreInterleaveWithoutLosingEntries) {
  // The server and a CLI command share the database: each must notice the
  // other's appends and continue the same tree.
  auto server = Open();
  auto cli = Open();
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE(server->RecordDurably(Event(i)).ok());
    ASSERT_TRUE(cli->RecordDurably(Event(100 + i)).ok());
    server->Record(Event(200 + i));
  }
  server->Flush();
  Checkpoint c = Published();
  EXPECT_EQ(c.size, 150);
  EXPECT_EQ(c.root, RootOfStoredEntries(150));
}

TEST_F(SequencerTest, EntriesAboutAPrincipalAreIndexed) {
  auto seq = Open();
  ASSERT_TRUE(seq->RecordDurably(Event(0, "anonymous")).ok());
  ASSERT_TRUE(seq->RecordDurably(Event(1, "prn_bob")).ok());
  ASSERT_TRUE(
      seq->RecordDurably({"grant.created", 2, "cli", "m", "api", "ok", "ok", R"({"principal":"prn_bob"})"}).ok());
  ASSERT_TRUE(seq->RecordDurably(Event(3, "prn_carol")).ok());
  EXPECT_EQ(*store_.EntriesAbout("prn_bob", -1, 10), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(*store_.EntriesAbout("prn_bob", 1, 10), (std::vector<int64_t>{2}));
  EXPECT_TRUE(store_.EntriesAbout("anonymous", -1, 10)->empty());
}

TEST_F(SequencerTest, AdoptOriginRenamesTheLogForEveryWriter) {
  auto seq = Open("first.example/log");
  ASSERT_TRUE(seq->RecordDurably(Event(1)).ok());
  ASSERT_TRUE(seq->AdoptOrigin("second.example/log").ok());
  Checkpoint c = Published("second.example/log");
  EXPECT_EQ(c.size, 1);
  // A writer opened with another default keeps the name the log has.
  auto other = Open("first.example/log");
  ASSERT_TRUE(other->RecordDurably(Event(2)).ok());
  EXPECT_EQ(Published("second.example/log").size, 2);
  EXPECT_FALSE(seq->AdoptOrigin("bad name").ok());
}

TEST_F(SequencerTest, BadEventsAreRefused) {
  auto seq = Open();
  EXPECT_FALSE(seq->RecordDurably({"t", 1, "a", "", "", "ok", "ok", "[]"}).ok());
  seq->Record({"t", 1, "a", "", "", "ok", "ok", "[]"});
  seq->Flush();
  EXPECT_EQ(seq->failed(), 1);
  EXPECT_EQ(Published().size, 0);
  // Record() leaves the checks to the writer: a bad event in a batch costs
  // only itself.
  seq->Record(Event(1));
  seq->Record({"t", 1, "a", "", "", "ok", "ok", "[]"});
  seq->Record(Event(2));
  seq->Flush();
  EXPECT_EQ(seq->failed(), 2);
  EXPECT_EQ(Published().size, 2);
}

// A store whose appends fail, as a full disk would.
class FailingStore : public MemoryLogStore {
 public:
  absl::Status Append(const LogAppend& a) override {
    if (a.entries.empty()) return MemoryLogStore::Append(a);
    return absl::ResourceExhaustedError("disk full");
  }
};

TEST(SequencerFailureTest, RecordDurablyReportsAFailedCommit) {
  FailingStore store;
  FakeClock clock;
  auto seq = LogSequencer::Open(store, std::string(64, '\x01'), "o", clock);
  ASSERT_TRUE(seq.ok()) << seq.status();
  EXPECT_TRUE((*seq)->health().ok());  // the tree is known
  absl::Status s = (*seq)->RecordDurably(Event(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_EQ((*seq)->failed(), 1);
  EXPECT_EQ((*seq)->health().code(), absl::StatusCode::kResourceExhausted);  // readiness says so
}

TEST(SequencerFailureTest, RefusesABadKeyOrName) {
  MemoryLogStore store;
  FakeClock clock;
  EXPECT_FALSE(LogSequencer::Open(store, "short", "o", clock).ok());
  EXPECT_FALSE(LogSequencer::Open(store, std::string(64, '\x01'), "has space", clock).ok());
}

}  // namespace
}  // namespace aperture::translog
