#include "translog/log_verifier.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include "translog/frontier.h"
#include "translog/log_reader.h"
#include "translog/memory_log_store.h"
#include "translog/sequencer.h"

namespace aperture::translog {
namespace {

// The log as served, in process: what the HTTP routes return.
class ReaderSource : public LogSource {
 public:
  explicit ReaderSource(LogStore& store) : reader_(store) {}
  absl::StatusOr<std::string> Checkpoint() override {
    if (checkpoint_override) return *checkpoint_override;
    auto head = reader_.Head();
    if (!head.ok()) return head.status();
    return head->checkpoint;
  }
  absl::StatusOr<std::vector<Hash>> ConsistencyProof(int64_t old_size, int64_t new_size) override {
    return reader_.ConsistencyProof(old_size, new_size);
  }
  absl::StatusOr<std::string> Tile(const TileRef& tile) override {
    ++tiles_fetched;
    return reader_.Tile(tile);
  }
  std::optional<std::string> checkpoint_override;
  int tiles_fetched = 0;

 private:
  LogReader reader_;
};

class LogVerifierTest : public ::testing::Test {
 protected:
  LogVerifierTest() {
    unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    secret_.assign(reinterpret_cast<char*>(sk), sizeof sk);
    verifier_key_ = Ed25519VerifierKey("log.example", std::string(reinterpret_cast<char*>(pk), sizeof pk));
    seq_ = *LogSequencer::Open(store_, secret_, "log.example", clock_);
  }

  void Append(int n) {
    for (int i = 0; i < n; ++i) {
      seq_->Record({"access.decision", 1700000000 + count_, "prn_a", "m", "api", "allow", "ok",
                    "{\"n\":" + std::to_string(count_) + "}"});
      ++count_;
    }
    seq_->Flush();
  }

  NoteVerifier Key() { return *NoteVerifier::Parse(verifier_key_); }

  FakeClock clock_;
  MemoryLogStore store_;
  std::string secret_, verifier_key_;
  std::unique_ptr<LogSequencer> seq_;
  int count_ = 0;
};

TEST_F(LogVerifierTest, FirstRunChecksEveryEntryAndLaterRunsOnlyNewOnes) {
  Append(600);
  ReaderSource source(store_);
  std::vector<int64_t> seen;
  auto first = VerifyLog(source, Key(), std::nullopt, [&](int64_t i, const std::string&) { seen.push_back(i); });
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(first->state.size, 600);
  EXPECT_EQ(first->new_entries, 600);
  EXPECT_EQ(seen.size(), 600u);

  // The state survives a round trip through its file format.
  auto state = ParseState(SerializeState(first->state));
  ASSERT_TRUE(state.ok()) << state.status();
  EXPECT_EQ(state->root, first->state.root);

  Append(10);
  seen.clear();
  auto second = VerifyLog(source, Key(), *state, [&](int64_t i, const std::string&) { seen.push_back(i); });
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(second->previous_size, 600);
  EXPECT_EQ(second->new_entries, 10);
  EXPECT_EQ(seen.front(), 600);
  EXPECT_EQ(seen.back(), 609);

  auto unchanged = VerifyLog(source, Key(), second->state);
  ASSERT_TRUE(unchanged.ok()) << unchanged.status();
  EXPECT_EQ(unchanged->new_entries, 0);
}

TEST_F(LogVerifierTest, NamesTheIndexOfAnAlteredEntry) {
  Append(300);
  store_.TamperEntry(261, R"({"actor":"prn_a","forged":true})");
  ReaderSource source(store_);
  auto result = VerifyLog(source, Key(), std::nullopt);
  ASSERT_FALSE(result.ok());
  const std::string message(result.status().message());
  EXPECT_NE(message.find("index 261"), std::string::npos) << message;
  EXPECT_NE(message.find(HashHex(LeafHash(R"({"actor":"prn_a","forged":true})"))), std::string::npos) << message;
}

TEST_F(LogVerifierTest, DetectsAnAlteredEntryAfterAnEarlierRun) {
  Append(20);
  ReaderSource source(store_);
  auto first = VerifyLog(source, Key(), std::nullopt);
  ASSERT_TRUE(first.ok());
  Append(20);
  store_.TamperEntry(30, "{}");
  auto second = VerifyLog(source, Key(), first->state);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("index 30"), absl::string_view::npos) << second.status();
}

TEST_F(LogVerifierTest, RefusesACheckpointInconsistentWithTheSavedOne) {
  Append(10);
  ReaderSource source(store_);
  auto first = VerifyLog(source, Key(), std::nullopt);
  ASSERT_TRUE(first.ok());

  // The same key signs a different history of 12 entries: a fork.
  MemoryLogStore forked_store;
  auto forked = *LogSequencer::Open(forked_store, secret_, "log.example", clock_);
  for (int i = 0; i < 12; ++i) forked->Record({"x", i, "prn_b", "", "", "ok", "ok", "{}"});
  forked->Flush();
  ReaderSource fork_source(forked_store);
  auto result = VerifyLog(fork_source, Key(), first->state);
  ASSERT_FALSE(result.ok());
  EXPECT_NE(result.status().message().find("not consistent"), absl::string_view::npos) << result.status();

  // A smaller log than last time is refused too.
  MemoryLogStore small_store;
  auto small = *LogSequencer::Open(small_store, secret_, "log.example", clock_);
  ASSERT_TRUE(small->RecordDurably({"x", 1, "prn_b", "", "", "ok", "ok", "{}"}).ok());
  ReaderSource small_source(small_store);
  auto shrunk = VerifyLog(small_source, Key(), first->state);
  ASSERT_FALSE(shrunk.ok());
  EXPECT_NE(shrunk.status().message().find("shrank"), absl::string_view::npos) << shrunk.status();
}

TEST_F(LogVerifierTest, RefusesCheckpointsNotSignedByTheKey) {
  Append(3);
  ReaderSource source(store_);
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_keypair(pk, sk);
  auto other = NoteVerifier::Parse(Ed25519VerifierKey("log.example", std::string(reinterpret_cast<char*>(pk), 32)));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(VerifyLog(source, *other, std::nullopt).ok());

  auto head = LogReader(store_).Head();
  std::string altered = head->checkpoint;
  altered.replace(altered.find("\n3\n"), 3, "\n4\n");
  source.checkpoint_override = altered;
  EXPECT_FALSE(VerifyLog(source, Key(), std::nullopt).ok());
}

TEST(VerifiedStateTest, RefusesADamagedStateFile) {
  EXPECT_FALSE(ParseState("not json").ok());
  EXPECT_FALSE(ParseState(R"({"origin":"o","size":1,"root":"AAAA","checkpoint":"","frontier":[]})").ok());
  VerifiedState s;
  s.origin = "o";
  s.size = 1;
  s.root = LeafHash("a");
  s.frontier = {LeafHash("b")};  // does not give the root
  EXPECT_FALSE(ParseState(SerializeState(s)).ok());
  s.frontier = {LeafHash("a")};
  EXPECT_TRUE(ParseState(SerializeState(s)).ok());
}

TEST(EntryBundleTest, SplitsLengthPrefixedEntries) {
  auto entries = ParseEntryBundle(std::string("\x00\x02hi\x00\x00\x00\x01x", 9));
  ASSERT_TRUE(entries.ok());
  EXPECT_EQ(*entries, (std::vector<std::string>{"hi", "", "x"}));
  EXPECT_FALSE(ParseEntryBundle(std::string("\x00\x05hi", 4)).ok());
  EXPECT_FALSE(ParseEntryBundle(std::string("\x00", 1)).ok());
}

}  // namespace
}  // namespace aperture::translog
