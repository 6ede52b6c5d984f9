// Crash safety of the log: `aperture serve` is killed with SIGKILL while
// clients are being served and appends are in flight, then restarted. Every
// entry covered by a checkpoint published before the kill must still be there,
// unchanged, and the new tree must be consistent with every checkpoint seen.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "core/base64.h"
#include "core/json.h"
#include "core/random.h"
#include "fmt/format.h"
#include "http/test_client.h"
#include "server/init.h"
#include "store/testing/test_stores.h"
#include "tests/integration/server_process.h"
#include "translog/frontier.h"
#include "translog/log_verifier.h"

namespace aperture::testing {
namespace {

using translog::Hash;

std::optional<http::TestResponse> Get(uint16_t port, const std::string& target, const std::string& key = "",
                                      const std::string& method = "GET", const std::string& body = "") {
  auto client = http::TestClient::Connect(port);
  if (!client) return std::nullopt;
  std::vector<std::string> headers;
  if (!key.empty()) headers.push_back("Authorization: Bearer " + key);
  if (!body.empty()) headers.push_back("Content-Type: application/json");
  if (!client->SendRequest(method, target, body, headers)) return std::nullopt;
  return client->ReadResponse(std::chrono::seconds(10));
}

std::vector<Hash> ProofFrom(const std::string& body) {
  std::vector<Hash> out;
  auto json = ParseJson(body);
  if (!json.ok()) return out;
  for (const Json& h : (*json)["proof"]) {
    out.push_back(*translog::HashFromBytes(*Base64Decode(h.get<std::string>())));
  }
  return out;
}

class LogCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = std::filesystem::temp_directory_path() / ("aperture-crash-" + NewId("t"));
    data_ = (root_ / "data").string();
    DataDir dir{data_};
    // Registered a second time with APERTURE_TEST_STORE=postgresql: the
    // server processes find the database through APERTURE_STORE.
    if (const char* backend = std::getenv("APERTURE_TEST_STORE"); backend && std::string(backend) == "postgresql") {
      auto database = store::testing::TestDatabase::Create(store::testing::Backend::kPostgres);
      ASSERT_TRUE(database.ok()) << database.status();
      database_ = std::move(*database);
      dir.store = database_->location();
      ::setenv("APERTURE_STORE", dir.store.c_str(), 1);
    }
    auto key = InitializeDataDir(dir);
    ASSERT_TRUE(key.ok()) << key.status();
    owner_key_ = *key;
    config_ = (root_ / "config.toml").string();
    std::ofstream(config_) << "[rate_limits]\nprincipal_requests_per_minute = 0\nanonymous_requests_per_minute = 0\n"
                              "[log]\nname = \"crash.test/log\"\n";
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }

  std::unique_ptr<store::testing::TestDatabase> database_;
  std::filesystem::path root_;
  std::string data_, config_, owner_key_;
};

TEST_F(LogCrashTest, KillDashNineLosesNoPublishedEntry) {
  std::map<int64_t, Hash> seen;  // every checkpoint published before a kill: size -> root
  std::optional<translog::NoteVerifier> key;
  int principals = 0;

  constexpr int kKills = 3;
  for (int round = 0; round <= kKills; ++round) {
    ServerProcess server(data_, {"--config", config_});
    ASSERT_NE(server.port(), 0) << "the server did not start";
    if (!key) {
      auto vkey = Get(server.port(), "/log/key");
      ASSERT_TRUE(vkey.has_value()) << "no answer on port " << server.port();
      ASSERT_EQ(vkey->status, 200) << vkey->body;
      std::string text = vkey->body;
      while (!text.empty() && text.back() == '\n') text.pop_back();
      auto parsed = translog::NoteVerifier::Parse(text);
      ASSERT_TRUE(parsed.ok()) << parsed.status();
      key = *parsed;
    }

    // The restarted log must contain every checkpoint seen so far.
    auto now = Get(server.port(), "/log/checkpoint");
    ASSERT_TRUE(now && now->status == 200);
    auto current = translog::OpenCheckpoint(now->body, *key);
    ASSERT_TRUE(current.ok()) << current.status();
    for (const auto& [size, root] : seen) {
      ASSERT_LE(size, current->size) << "a published checkpoint's entries were lost";
      auto proof = Get(server.port(), fmt::format("/log/proof/consistency?old={}&new={}", size, current->size));
      ASSERT_TRUE(proof && proof->status == 200);
      EXPECT_TRUE(translog::VerifyConsistency(size, current->size, ProofFrom(proof->body), root, current->root).ok())
          << "round " << round << ": size " << size << " is not a prefix of size " << current->size;
    }
    // ...and its entries, refetched, give every root seen.
    if (!seen.empty()) {
      translog::Frontier tree;
      const int64_t last = seen.rbegin()->first;
      while (tree.size() < last) {
        auto page = Get(server.port(), fmt::format("/log/entries?start={}&end={}", tree.size(), last));
        ASSERT_TRUE(page && page->status == 200);
        auto json = ParseJson(page->body);
        ASSERT_TRUE(json.ok());
        for (const Json& e : (*json)["entries"]) {
          tree.Append(translog::LeafHash(e["entry"].get<std::string>()));
          auto it = seen.find(tree.size());
          if (it != seen.end()) {
            EXPECT_EQ(tree.Root(), it->second) << "entries up to " << tree.size() << " changed";
          }
        }
      }
    }

    if (round == kKills) break;  // the last restart is only checked

    // Load: anonymous reads (access decisions, not waited for) and admin
    // changes (durable appends) from several clients, while a monitor
    // records every checkpoint it sees.
    std::atomic<bool> stop{false};
    std::mutex mu;
    std::vector<std::thread> threads;
    for (int t = 0; t < 3; ++t) {
      threads.emplace_back([&] {
        while (!stop) Get(server.port(), "/v1/models");
      });
    }
    threads.emplace_back([&, round] {
      for (int i = 0; !stop; ++i) {
        Get(server.port(), "/v1/admin/principals", owner_key_, "POST", fmt::format(R"({{"name":"p{}-{}"}})", round, i));
        std::lock_guard<std::mutex> lock(mu);
        ++principals;
      }
    });
    threads.emplace_back([&] {
      while (!stop) {
        auto r = Get(server.port(), "/log/checkpoint");
        if (!r || r->status != 200) continue;
        auto cp = translog::OpenCheckpoint(r->body, *key);
        ASSERT_TRUE(cp.ok()) << cp.status();
        std::lock_guard<std::mutex> lock(mu);
        seen[cp->size] = cp->root;
      }
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    server.Kill(SIGKILL);
    stop = true;
    for (auto& t : threads) t.join();
    ASSERT_FALSE(seen.empty());
  }
  EXPECT_GT(principals, 0);
  EXPECT_GT(seen.rbegin()->first, 100) << "the load produced too few entries to mean anything";
  if (database_) {
    EXPECT_FALSE(std::filesystem::exists(data_ + "/aperture.db")) << "the servers did not use PostgreSQL";
  }
}

}  // namespace
}  // namespace aperture::testing
