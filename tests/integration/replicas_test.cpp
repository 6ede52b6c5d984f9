// Replicas: several `aperture serve` processes on one PostgreSQL database,
// under load from clients of each. They build one log (appends serialised in
// the database, docs/replicas.md): it verifies from scratch, two checkpoints
// of one size are the same note, every checkpoint any client saw is a prefix
// of the final log, and every acknowledged change is in it, even when a
// replica that was appending is killed with SIGKILL. A key revoked through
// one replica is refused by the other (the test waits for it, bounded).
#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "core/base64.h"
#include "core/json.h"
#include "core/random.h"
#include "fmt/format.h"
#include "http/test_client.h"
#include "server/init.h"
#include "store/testing/test_stores.h"
#include "tests/integration/server_process.h"
#include "tests/integration/test_server.h"
#include "translog/frontier.h"
#include "translog/log_verifier.h"

namespace aperture::testing {
namespace {

using translog::Hash;

std::optional<http::TestResponse> Call(uint16_t port, const std::string& method, const std::string& target,
                                       const std::string& key = "", const std::string& body = "") {
  auto client = http::TestClient::Connect(port);
  if (!client) return std::nullopt;
  std::vector<std::string> headers;
  if (!key.empty()) headers.push_back("Authorization: Bearer " + key);
  if (!body.empty()) headers.push_back("Content-Type: application/json");
  if (!client->SendRequest(method, target, body, headers)) return std::nullopt;
  return client->ReadResponse(std::chrono::seconds(20));
}

std::vector<Hash> ProofFrom(const std::string& body) {
  std::vector<Hash> out;
  auto json = ParseJson(body);
  if (!json.ok()) return out;
  for (const Json& h : (*json)["proof"]) out.push_back(*translog::HashFromBytes(*Base64Decode(h.get<std::string>())));
  return out;
}

// Polls `done` until it holds, for at most `seconds` (a bound, not a timing).
template <typename F>
bool Eventually(F done, int seconds = 10) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

// What clients of every replica saw and were told.
struct Observed {
  std::mutex mu;
  std::map<int64_t, std::string> notes;  // tree size -> the signed checkpoint, as served
  std::vector<std::string> conflicts;    // two different checkpoints of one size
  std::set<std::string> acknowledged;    // principals whose creation was answered 201
};

class ReplicasTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("aperture-replicas-" + NewId("t"));
    auto database = store::testing::TestDatabase::Create(store::testing::Backend::kPostgres);
    ASSERT_TRUE(database.ok()) << database.status();
    database_ = std::move(*database);
    data_ = (root_ / "data").string();
    ::setenv("APERTURE_STORE", database_->location().c_str(), 1);  // the replicas' --store
    auto key = InitializeDataDir(DataDir{data_, database_->location()});
    ASSERT_TRUE(key.ok()) << key.status();
    owner_ = *key;
    config_ = (root_ / "config.toml").string();
    std::ofstream(config_) << "[rate_limits]\nprincipal_requests_per_minute = 0\nanonymous_requests_per_minute = 0\n"
                              "[log]\nname = \"replicas.test/log\"\n";
  }
  void TearDown() override {
    ::unsetenv("APERTURE_STORE");
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  std::unique_ptr<ServerProcess> StartReplica() {
    auto replica = std::make_unique<ServerProcess>(data_, std::vector<std::string>{"--config", config_});
    EXPECT_NE(replica->port(), 0) << "a replica did not start";
    return replica;
  }

  translog::NoteVerifier Key(uint16_t port) {
    auto r = Call(port, "GET", "/log/key");
    EXPECT_TRUE(r && r->status == 200);
    std::string text = r ? r->body : "";
    while (!text.empty() && text.back() == '\n') text.pop_back();
    auto key = translog::NoteVerifier::Parse(text);
    EXPECT_TRUE(key.ok()) << key.status();
    return *key;
  }

  // Clients of one replica until `stop`: anonymous reads (access decisions,
  // logged without waiting), owner writes (durable: answered once in the
  // log) and a monitor of the checkpoint.
  void Load(uint16_t port, const std::string& tag, std::atomic<bool>& stop, std::vector<std::thread>& threads) {
    threads.emplace_back([this, port, &stop] {
      while (!stop) Call(port, "GET", "/v1/models");
    });
    threads.emplace_back([this, port, tag, &stop] {
      for (int i = 0; !stop; ++i) {
        const std::string name = fmt::format("{}-{}", tag, i);
        auto r = Call(port, "POST", "/v1/admin/principals", owner_, fmt::format(R"({{"name":"{}"}})", name));
        if (r && r->status == 201) {
          std::lock_guard<std::mutex> lock(seen_.mu);
          seen_.acknowledged.insert(name);
        }
      }
    });
    threads.emplace_back([this, port, &stop] {
      while (!stop) Watch(port);
    });
  }

  // Records the checkpoint `port` serves now.
  void Watch(uint16_t port) {
    auto r = Call(port, "GET", "/log/checkpoint");
    if (!r || r->status != 200) return;
    auto cp = translog::OpenCheckpoint(r->body, *key_);
    ASSERT_TRUE(cp.ok()) << cp.status();
    std::lock_guard<std::mutex> lock(seen_.mu);
    auto [it, inserted] = seen_.notes.emplace(cp->size, r->body);
    if (!inserted && it->second != r->body) seen_.conflicts.push_back(r->body);
  }

  // The final log, read from `port`: every checkpoint seen is a prefix of
  // it, recomputed from its entries; every acknowledged principal is in it.
  void CheckFinalLog(uint16_t port) {
    auto now = Call(port, "GET", "/log/checkpoint");
    ASSERT_TRUE(now && now->status == 200);
    auto final = translog::OpenCheckpoint(now->body, *key_);
    ASSERT_TRUE(final.ok()) << final.status();
    std::lock_guard<std::mutex> lock(seen_.mu);
    EXPECT_TRUE(seen_.conflicts.empty()) << "two checkpoints of one size differ: " << seen_.conflicts.front();
    ASSERT_FALSE(seen_.notes.empty());
    for (const auto& [size, note] : seen_.notes) {
      auto seen = translog::OpenCheckpoint(note, *key_);
      ASSERT_TRUE(seen.ok()) << seen.status();
      ASSERT_LE(size, final->size) << "a checkpoint a client saw is larger than the final log";
      auto proof = Call(port, "GET", fmt::format("/log/proof/consistency?old={}&new={}", size, final->size));
      ASSERT_TRUE(proof && proof->status == 200);
      EXPECT_TRUE(translog::VerifyConsistency(size, final->size, ProofFrom(proof->body), seen->root, final->root).ok())
          << "the checkpoint of size " << size << " is not a prefix of the final log";
    }
    // Every entry, from the start: the roots of every checkpoint seen, and
    // the acknowledged principals.
    translog::Frontier tree;
    std::set<std::string> logged;
    while (tree.size() < final->size) {
      auto page = Call(port, "GET", fmt::format("/log/entries?start={}&end={}", tree.size(), final->size));
      ASSERT_TRUE(page && page->status == 200);
      auto json = ParseJson(page->body);
      ASSERT_TRUE(json.ok());
      for (const Json& e : (*json)["entries"]) {
        const std::string entry = e["entry"].get<std::string>();
        tree.Append(translog::LeafHash(entry));
        auto it = seen_.notes.find(tree.size());
        if (it != seen_.notes.end()) {
          EXPECT_EQ(tree.Root(), translog::OpenCheckpoint(it->second, *key_)->root) << "at size " << tree.size();
        }
        auto parsed = ParseJson(entry);
        if (parsed.ok() && (*parsed)["type"] == "principal.created") logged.insert((*parsed)["details"]["name"]);
      }
    }
    EXPECT_EQ(tree.Root(), final->root);
    for (const std::string& name : seen_.acknowledged) {
      EXPECT_TRUE(logged.count(name)) << "acknowledged but not in the log: " << name;
    }
  }

  // `aperture log verify` against one replica, from scratch.
  void VerifyWithCli(uint16_t port) {
    auto vkey = Call(port, "GET", "/log/key");
    ASSERT_TRUE(vkey && vkey->status == 200);
    std::string text = vkey->body;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    auto [rc, out] =
        RunCommand(fmt::format("{} log verify --url http://127.0.0.1:{} --key '{}'", APERTURE_BINARY, port, text));
    EXPECT_EQ(rc, 0) << out;
  }

  std::unique_ptr<store::testing::TestDatabase> database_;
  std::filesystem::path root_;
  std::string data_, config_, owner_;
  std::optional<translog::NoteVerifier> key_;
  Observed seen_;
};

TEST_F(ReplicasTest, TwoReplicasUnderLoadBuildOneLogAndShareRevocations) {
  auto a = StartReplica();
  auto b = StartReplica();
  ASSERT_TRUE(a->port() && b->port());
  key_ = Key(a->port());
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  Load(a->port(), "a", stop, threads);
  Load(b->port(), "b", stop, threads);
  std::this_thread::sleep_for(std::chrono::seconds(3));
  stop = true;
  for (std::thread& t : threads) t.join();
  {
    std::lock_guard<std::mutex> lock(seen_.mu);
    ASSERT_GT(seen_.acknowledged.size(), 10u) << "the load made too few changes to mean anything";
  }
  // Both serve the same log: the same checkpoint now, and it verifies from
  // scratch through either.
  Watch(a->port());
  Watch(b->port());
  CheckFinalLog(a->port());
  CheckFinalLog(b->port());
  VerifyWithCli(a->port());
  VerifyWithCli(b->port());
  auto from_a = Call(a->port(), "GET", "/log/checkpoint");
  auto from_b = Call(b->port(), "GET", "/log/checkpoint");
  ASSERT_TRUE(from_a && from_b);
  EXPECT_EQ(from_a->body, from_b->body);

  // A key revoked through A is refused by B.
  ASSERT_EQ(Call(a->port(), "POST", "/v1/admin/principals", owner_, R"({"name":"rev"})")->status, 201);
  auto created = Call(a->port(), "POST", "/v1/admin/keys", owner_, R"({"principal":"rev"})");
  ASSERT_TRUE(created && created->status == 201) << (created ? created->body : "");
  const Json key = *ParseJson(created->body);
  const std::string plaintext = key["key"], id = key["id"];
  EXPECT_TRUE(Eventually([&] { return Call(b->port(), "GET", "/v1/access-requests", plaintext)->status == 200; }));
  ASSERT_EQ(Call(a->port(), "DELETE", "/v1/admin/keys/" + id, owner_)->status, 200);
  EXPECT_EQ(Call(a->port(), "GET", "/v1/access-requests", plaintext)->status, 401);
  EXPECT_TRUE(Eventually([&] { return Call(b->port(), "GET", "/v1/access-requests", plaintext)->status == 401; }))
      << "replica B still accepts a key revoked through replica A";

  // Both count each other: each allows half of every rate limit.
  auto ready = Call(b->port(), "GET", "/readyz");
  ASSERT_TRUE(ready && ready->status == 200) << (ready ? ready->body : "");
  EXPECT_TRUE(
      Eventually([&] { return (*ParseJson(Call(b->port(), "GET", "/readyz")->body))["checks"]["replicas"] == 2; }));
}

// Kill -9 of a replica while both append: the other goes on appending (it
// needs no hand-over: each replica sequences its own entries, one append at
// a time across all of them), and nothing any client saw or was told is lost.
TEST_F(ReplicasTest, KillingAnAppendingReplicaLosesNothingAndTheOtherGoesOn) {
  auto a = StartReplica();
  auto b = StartReplica();
  ASSERT_TRUE(a->port() && b->port());
  key_ = Key(a->port());
  std::atomic<bool> stop_a{false}, stop_b{false};
  std::vector<std::thread> on_a, on_b;
  Load(a->port(), "a", stop_a, on_a);
  Load(b->port(), "b", stop_b, on_b);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  a->Kill(SIGKILL);
  stop_a = true;
  for (std::thread& t : on_a) t.join();
  size_t before;
  {
    std::lock_guard<std::mutex> lock(seen_.mu);
    before = seen_.acknowledged.size();
  }
  // B keeps committing: its durable writes are answered after the kill.
  EXPECT_TRUE(Eventually([&] {
    std::lock_guard<std::mutex> lock(seen_.mu);
    return seen_.acknowledged.size() >= before + 20;
  })) << "replica B did not go on appending after replica A was killed";
  stop_b = true;
  for (std::thread& t : on_b) t.join();

  Watch(b->port());
  CheckFinalLog(b->port());
  VerifyWithCli(b->port());
  // A restarted replica serves the same log.
  auto c = StartReplica();
  ASSERT_NE(c->port(), 0);
  auto from_b = Call(b->port(), "GET", "/log/checkpoint");
  auto from_c = Call(c->port(), "GET", "/log/checkpoint");
  ASSERT_TRUE(from_b && from_c);
  EXPECT_EQ(from_b->body, from_c->body);
}

}  // namespace
}  // namespace aperture::testing
