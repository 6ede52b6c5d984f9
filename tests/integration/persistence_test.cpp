// State survives restarts, `init` never overwrites, keys never rest in
// plaintext, and the access-request flow works end to end over HTTP.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/hash.h"
#include "server/init.h"
#include "tests/integration/test_server.h"

namespace aperture::testing {
namespace {

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(PersistenceTest, RestartKeepsPrincipalsKeysGrantsAndRequests) {
  TestServer server;
  server.AddModel("m", Level::kHosted);
  server.AddPrincipal("alice", Role::kMember);
  const std::string key = server.CreateKey("alice");
  ASSERT_EQ(server
                .Call("POST", "/v1/admin/grants", R"({"principal":"alice","model":"m","level":"api","reason":"pilot"})",
                      server.owner_key())
                .status,
            201);
  auto submitted =
      server.Call("POST", "/v1/access-requests", R"({"model":"m","level":"research","justification":"probing"})", key);
  ASSERT_EQ(submitted.status, 201) << submitted.body;

  server.Restart();

  EXPECT_EQ(server.Call("GET", "/v1/models", "", key).status, 200);  // the key still works
  Json models = server.CallJson("GET", "/v1/models", "", key);
  EXPECT_EQ(models["data"][0]["level"], "api");  // the grant survived
  Json mine = server.CallJson("GET", "/v1/access-requests", "", key);
  ASSERT_EQ(mine["data"].size(), 1u);
  EXPECT_EQ(mine["data"][0]["state"], "pending");
  Json principals = server.CallJson("GET", "/v1/admin/principals", "", server.owner_key());
  EXPECT_EQ(principals["data"].size(), 2u);
  // The server noted when the key was last used.
  server.Stop();
  server.Restart();
  auto keys = server.services().store->ListApiKeys("");
  ASSERT_TRUE(keys.ok());
  bool used = false;
  for (const ApiKey& k : *keys) used = used || k.last_used_at > 0;
  EXPECT_TRUE(used);
}

TEST(PersistenceTest, InitTwiceChangesNothing) {
  TestServer server;
  server.AddPrincipal("alice", Role::kMember);
  server.Stop();
  const std::string db = server.StoreBytes();
  const std::string secret = ReadAll(server.dir().hash_secret());
  const std::string signing = ReadAll(server.dir().signing_key());
  auto again = InitializeDataDir(server.dir());
  EXPECT_TRUE(absl::IsAlreadyExists(again.status())) << again.status();
  EXPECT_EQ(Sha256(server.StoreBytes()), Sha256(db));
  EXPECT_EQ(ReadAll(server.dir().hash_secret()), secret);
  EXPECT_EQ(ReadAll(server.dir().signing_key()), signing);
}

TEST(PersistenceTest, DatabaseNeverHoldsAKeyInPlaintext) {
  TestServer server;
  server.AddPrincipal("alice", Role::kMember);
  std::vector<std::string> keys = {server.owner_key()};
  for (int i = 0; i < 20; ++i) keys.push_back(server.CreateKey("alice"));
  Json created = server.CallJson("POST", "/v1/admin/keys", R"({"principal":"alice"})", server.owner_key());
  keys.push_back(created["key"]);
  for (const std::string& k : keys) server.Call("GET", "/v1/models", "", k);
  server.Stop();  // flushes everything to the database (and SQLite's WAL)
  const std::string bytes = server.StoreBytes();
  ASSERT_GT(bytes.size(), 0u);
  for (const std::string& k : keys) {
    ASSERT_EQ(k.size(), 39u);
    EXPECT_EQ(bytes.find(k), std::string::npos);
    EXPECT_EQ(bytes.find(k.substr(3, 30)), std::string::npos);  // not even the random part
    EXPECT_EQ(bytes.find(k.substr(3, 12)), std::string::npos);
  }
}

TEST(PersistenceTest, AccessRequestLifecycle) {
  TestServer server;
  server.AddModel("m", Level::kApi);
  server.AddPrincipal("ana", Role::kMember);
  server.AddPrincipal("rita", Role::kReviewer);
  const std::string ana = server.CreateKey("ana");
  const std::string rita = server.CreateKey("rita");
  ASSERT_EQ(server
                .Call("POST", "/v1/admin/models/m/request-fields",
                      R"({"fields":[{"name":"affiliation","type":"text","required":true},
                                      {"name":"use","type":"select","options":["research","teaching"]},
                                      {"name":"licence","type":"checkbox","required":true}]})",
                      server.owner_key())
                .status,
            200);
  // The form is enforced.
  auto r = server.Call("POST", "/v1/access-requests", R"({"model":"m","level":"research","justification":"j"})", ana);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("affiliation"), std::string::npos);
  r = server.Call("POST", "/v1/access-requests",
                  R"({"model":"m","level":"research","justification":"j",
                      "fields":{"affiliation":"Uni","use":"mining","licence":true}})",
                  ana);
  EXPECT_EQ(r.status, 400);
  const std::string good = R"({"model":"m","level":"research","justification":"interpretability",
                               "fields":{"affiliation":"Uni","use":"research","licence":true}})";
  r = server.Call("POST", "/v1/access-requests", good, ana);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id = ParseJson(r.body)->at("id");
  EXPECT_EQ(server.Call("POST", "/v1/access-requests", good, ana).status, 409);  // one pending at a time
  // Members cannot decide; reviewers can, at a lower level than asked.
  EXPECT_EQ(server.Call("POST", "/v1/admin/access-requests/" + id + "/approve", "{}", ana).status, 403);
  Json approved = server.CallJson("POST", "/v1/admin/access-requests/" + id + "/approve",
                                  R"({"level":"research","expires_in":"30d","reason":"welcome"})", rita);
  EXPECT_EQ(approved["state"], "approved");
  EXPECT_EQ(server.Call("POST", "/v1/research/run", R"({"model":"m","input":"hi","return":{"top_k":1}})", ana).status,
            200);
  EXPECT_EQ(server.Call("POST", "/v1/admin/access-requests/" + id + "/deny", R"({"reason":"late"})", rita).status, 409);

  // A denial carries its reason, and a new request waits for the configured time.
  r = server.Call("POST", "/v1/access-requests",
                  R"({"model":"m","level":"download","justification":"offline use",
                      "fields":{"affiliation":"Uni","licence":true}})",
                  ana);
  ASSERT_EQ(r.status, 201) << r.body;
  const std::string id2 = ParseJson(r.body)->at("id");
  ASSERT_EQ(server.Call("POST", "/v1/admin/access-requests/" + id2 + "/deny", R"({"reason":"not yet"})", rita).status,
            200);
  Json mine = server.CallJson("GET", "/v1/access-requests", "", ana);
  bool seen = false;
  for (const Json& req : mine["data"]) {
    if (req["id"] == id2) {
      seen = true;
      EXPECT_EQ(req["state"], "denied");
      EXPECT_EQ(req["reason"], "not yet");
    }
  }
  EXPECT_TRUE(seen);
  const std::string again = R"({"model":"m","level":"download","justification":"please",
                                "fields":{"affiliation":"Uni","licence":true}})";
  EXPECT_EQ(server.Call("POST", "/v1/access-requests", again, ana).status, 429);
  server.clock().AdvanceSeconds(server.services().config.access_request_retry_seconds + 1);
  EXPECT_EQ(server.Call("POST", "/v1/access-requests", again, ana).status, 201);
}

}  // namespace
}  // namespace aperture::testing

namespace aperture::testing {
namespace {

// The CLI opens the same data directory while the server runs; the server
// keeps the rows each request reads in memory and rechecks the database every
// 100 ms, so a change applies within 0.1 s (the README promises a second).
TEST(PersistenceTest, ChangesFromAnotherProcessApplyWithinASecond) {
  TestServer server;
  server.AddModel("m", Level::kHosted);
  server.AddPrincipal("alice", Role::kMember);
  const std::string key = server.CreateKey("alice");
  auto embed = [&] { return server.Call("POST", "/v1/embeddings", R"({"model":"m","input":"x"})", key).status; };
  auto list = [&] { return server.Call("GET", "/v1/models", "", key).status; };
  // Polls `call` until it answers `status`, for up to a second.
  auto within_a_second = [](auto call, int status) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (call() != status) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  };
  EXPECT_EQ(embed(), 403);
  EXPECT_EQ(list(), 200);  // the key, principal and model are now cached

  auto cli = Services::Open(server.dir(), DefaultConfig());
  ASSERT_TRUE(cli.ok()) << cli.status();
  const Caller op = AccessService::Operator();
  ASSERT_TRUE((*cli)->access->GrantAccess(op, "alice", "m", Level::kApi, std::nullopt, "cli grant").ok());
  EXPECT_TRUE(within_a_second(embed, 200));

  auto stored = (*cli)->store->FindApiKeyByHash((*cli)->hasher->Hash(key));
  ASSERT_TRUE(stored.ok() && stored->has_value());
  ASSERT_TRUE((*cli)->access->RevokeKey(op, (*stored)->id).ok());
  EXPECT_TRUE(within_a_second(list, 401));
}

}  // namespace
}  // namespace aperture::testing
