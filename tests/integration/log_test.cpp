// The transparency log over HTTP and from the CLI: signed checkpoints that
// verify with the published key, proofs that verify against them, the tiles
// layout, a principal's own entries, bad parameters, and `aperture log
// verify` naming an entry altered directly in the database.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>

#include "core/base64.h"
#include "fmt/format.h"
#include "tests/integration/test_server.h"
#include "translog/checkpoint.h"
#include "translog/entry.h"
#include "translog/log_verifier.h"
#include "translog/merkle.h"
#include "translog/note.h"

namespace aperture::testing {
namespace {

using translog::Hash;

Config Unlimited() {
  Config c = DefaultConfig();
  c.anonymous_requests_per_minute = 0;
  c.principal_requests_per_minute = 0;
  return c;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

std::vector<Hash> Hashes(const Json& list) {
  std::vector<Hash> out;
  for (const Json& h : list) out.push_back(*translog::HashFromBytes(*Base64Decode(h.get<std::string>())));
  return out;
}

// The published key, and the current checkpoint opened with it.
struct Published {
  translog::NoteVerifier key;
  translog::Checkpoint checkpoint;
};

Published Fetch(TestServer& server) {
  const std::string vkey = Trim(server.Call("GET", "/log/key").body);
  auto key = translog::NoteVerifier::Parse(vkey);
  EXPECT_TRUE(key.ok()) << vkey << ": " << key.status();
  auto note = server.Call("GET", "/log/checkpoint");
  EXPECT_EQ(note.status, 200);
  EXPECT_EQ(note.Header("content-type").value_or(""), "text/plain; charset=utf-8");
  auto cp = translog::OpenCheckpoint(note.body, *key);
  EXPECT_TRUE(cp.ok()) << cp.status();
  return Published{*key, *cp};
}

void ExpectParamError(TestServer& server, const std::string& target, int status, const std::string& param) {
  auto r = server.Call("GET", target);
  EXPECT_EQ(r.status, status) << target << ": " << r.body;
  auto body = ParseJson(r.body);
  ASSERT_TRUE(body.ok()) << target;
  if (param.empty()) {
    EXPECT_TRUE((*body)["error"]["param"].is_null()) << target << ": " << r.body;
  } else {
    EXPECT_EQ((*body)["error"]["param"], param) << target << ": " << r.body;
  }
}

// Runs the aperture binary; returns its exit status and everything it printed.
std::pair<int, std::string> RunCli(const std::string& args) {
  return RunCommand(fmt::format("{} {}", APERTURE_BINARY, args));
}

TEST(LogTest, CheckpointsAreSignedUnderTheConfiguredName) {
  Config config = Unlimited();
  config.log.name = "models.example.org/log";
  TestServer server(config);
  Published p = Fetch(server);
  EXPECT_EQ(p.key.name(), "models.example.org/log");
  EXPECT_EQ(p.checkpoint.origin, "models.example.org/log");
  // init logged the owner's principal and key before the server started.
  EXPECT_GE(p.checkpoint.size, 2);
}

TEST(LogTest, EveryAdminChangeIsAnEntryProvenInTheCheckpoint) {
  TestServer server(Unlimited());
  server.AddModel("m", Level::kHosted);
  const std::string alice = server.AddPrincipal("alice", Role::kMember);
  server.CreateKey("alice");
  ASSERT_TRUE(server.services()
                  .access->GrantAccess(AccessService::Operator(), "alice", "m", Level::kApi, std::nullopt, "study")
                  .ok());
  Published p = Fetch(server);

  Json page = server.CallJson("GET", fmt::format("/log/entries?start=0&end={}", p.checkpoint.size));
  ASSERT_EQ(page["entries"].size(), static_cast<size_t>(p.checkpoint.size));
  std::map<std::string, int64_t> first_of_type;
  for (const Json& e : page["entries"]) {
    auto event = translog::EventFromEntry(e["entry"].get<std::string>());
    ASSERT_TRUE(event.ok());
    first_of_type.try_emplace(event->type, e["index"].get<int64_t>());
  }
  for (const char* type : {"principal.created", "key.created", "model.added", "grant.created"}) {
    ASSERT_TRUE(first_of_type.count(type)) << type;
    const int64_t index = first_of_type[type];
    const std::string entry = page["entries"][index]["entry"];
    // By index...
    Json proof = server.CallJson("GET", fmt::format("/log/proof/inclusion?index={}&size={}", index, p.checkpoint.size));
    EXPECT_TRUE(translog::VerifyInclusion(index, p.checkpoint.size, translog::LeafHash(entry), Hashes(proof["proof"]),
                                          p.checkpoint.root)
                    .ok())
        << type;
    // ...and by leaf hash, in hex and in base64.
    const Hash leaf = translog::LeafHash(entry);
    Json by_hex = server.CallJson(
        "GET", fmt::format("/log/proof/inclusion?hash={}&size={}", translog::HashHex(leaf), p.checkpoint.size));
    EXPECT_EQ(by_hex["index"], index);
    EXPECT_EQ(by_hex["proof"], proof["proof"]);
    std::string b64 = Base64Encode(translog::ToBytes(leaf));
    for (char& c : b64) c = c == '+' ? '-' : c == '/' ? '_' : c;  // URL-safe, as a query wants it
    Json by_b64 = server.CallJson("GET", "/log/proof/inclusion?hash=" + b64);
    EXPECT_EQ(by_b64["index"], index);
  }
  auto grant = translog::EventFromEntry(page["entries"][first_of_type["grant.created"]]["entry"]);
  EXPECT_EQ(grant->model, "m");
  EXPECT_EQ(grant->level, "api");
  EXPECT_NE(grant->details.find(alice), std::string::npos);
}

TEST(LogTest, CheckpointsStayConsistentAsTheLogGrows) {
  TestServer server(Unlimited());
  Published before = Fetch(server);
  for (int i = 0; i < 20; ++i) server.Call("GET", "/v1/models");
  server.services().recorder->Flush();
  Published after = Fetch(server);
  ASSERT_GT(after.checkpoint.size, before.checkpoint.size + 19);
  Json proof = server.CallJson(
      "GET", fmt::format("/log/proof/consistency?old={}&new={}", before.checkpoint.size, after.checkpoint.size));
  EXPECT_TRUE(translog::VerifyConsistency(before.checkpoint.size, after.checkpoint.size, Hashes(proof["proof"]),
                                          before.checkpoint.root, after.checkpoint.root)
                  .ok());
  // The request for the proof is itself logged: every decision is.
  server.services().recorder->Flush();
  EXPECT_GT(Fetch(server).checkpoint.size, after.checkpoint.size);
}

TEST(LogTest, ServesTheTilesLayout) {
  TestServer server(Unlimited());
  for (int i = 0; i < 300; ++i) {
    server.services().recorder->Record(
        {"eval.recorded", i, "cli", "m", "", "ok", "ok", fmt::format("{{\"n\":{}}}", i)});
  }
  server.services().recorder->Flush();
  Published p = Fetch(server);
  ASSERT_GE(p.checkpoint.size, 300);

  auto tile = server.Call("GET", "/log/tile/0/000");
  ASSERT_EQ(tile.status, 200);
  EXPECT_EQ(tile.Header("content-type").value_or(""), "application/octet-stream");
  ASSERT_EQ(tile.body.size(), 256u * 32);
  auto bundle = server.Call("GET", "/log/tile/entries/000");
  ASSERT_EQ(bundle.status, 200);
  auto entries = translog::ParseEntryBundle(bundle.body);
  ASSERT_TRUE(entries.ok());
  ASSERT_EQ(entries->size(), 256u);
  std::vector<Hash> leaves;
  for (size_t i = 0; i < 256; ++i) {
    const Hash leaf = translog::LeafHash((*entries)[i]);
    EXPECT_EQ(translog::ToBytes(leaf), tile.body.substr(i * 32, 32)) << i;
    leaves.push_back(leaf);
  }
  // Level 1 holds the roots of full level-0 tiles.
  auto level1 = server.Call("GET", "/log/tile/1/000.p/1");
  ASSERT_EQ(level1.status, 200);
  EXPECT_EQ(level1.body, translog::ToBytes(translog::ReferenceRoot(leaves)));
  // A partial tile of the right edge, and one beyond it.
  const int64_t width = p.checkpoint.size - 256;
  auto partial = server.Call("GET", fmt::format("/log/tile/0/001.p/{}", width));
  ASSERT_EQ(partial.status, 200);
  EXPECT_EQ(partial.body.size(), static_cast<size_t>(width) * 32);
  EXPECT_EQ(server.Call("GET", "/log/tile/0/002").status, 404);
  EXPECT_EQ(server.Call("GET", "/log/tile/2/000.p/1").status, 404);

  // /log/entries pages are bounded.
  for (int i = 0; i < 1000; ++i)
    server.services().recorder->Record({"eval.recorded", i, "cli", "", "", "ok", "ok", "{}"});
  server.services().recorder->Flush();
  Json page = server.CallJson("GET", "/log/entries?start=0&end=5000");
  EXPECT_EQ(page["entries"].size(), 1000u);
  EXPECT_EQ(page["end"], 1000);
}

TEST(LogTest, BadParametersAre400AndNameTheParameter) {
  TestServer server(Unlimited());
  const int64_t size = Fetch(server).checkpoint.size;
  ExpectParamError(server, "/log/proof/inclusion?index=x", 400, "index");
  ExpectParamError(server, "/log/proof/inclusion?index=-1", 400, "index");
  ExpectParamError(server, "/log/proof/inclusion", 400, "index");
  ExpectParamError(server, fmt::format("/log/proof/inclusion?index={}&size={}", size, size), 400, "index");
  ExpectParamError(server, "/log/proof/inclusion?index=0&size=99999999", 400, "size");
  ExpectParamError(server, "/log/proof/inclusion?index=0&size=1e3", 400, "size");
  ExpectParamError(server, "/log/proof/inclusion?hash=abc", 400, "hash");
  ExpectParamError(server, "/log/proof/inclusion?index=0&hash=abc", 400, "hash");
  ExpectParamError(server, fmt::format("/log/proof/inclusion?hash={}", std::string(64, 'a')), 404, "");
  ExpectParamError(server, "/log/proof/consistency", 400, "old");
  ExpectParamError(server, "/log/proof/consistency?old=2&new=1", 400, "old");
  ExpectParamError(server, "/log/proof/consistency?old=1&new=99999999", 400, "new");
  ExpectParamError(server, "/log/entries", 400, "start");
  ExpectParamError(server, "/log/entries?start=99999999", 400, "start");
  ExpectParamError(server, "/log/entries?start=1&end=0", 400, "end");
  ExpectParamError(server, "/log/tile/0/x000/001", 400, "path");
  ExpectParamError(server, "/log/tile/0/001.p/0", 400, "path");
  ExpectParamError(server, "/log/tile/99/000", 400, "path");
}

TEST(LogTest, APrincipalListsTheirOwnEntriesWithProofs) {
  TestServer server(Unlimited());
  server.AddModel("m", Level::kHosted);
  const std::string bob = server.AddPrincipal("bob", Role::kMember);
  const std::string key = server.CreateKey("bob");
  server.AddPrincipal("carol", Role::kMember);
  server.Call("GET", "/v1/models", "", key);
  server.services().recorder->Flush();

  EXPECT_EQ(server.Call("GET", "/log/mine").status, 401);
  Json page = server.CallJson("GET", "/log/mine", "", key);
  ASSERT_TRUE(page["entries"].is_array()) << page.dump();
  auto cp = translog::OpenCheckpoint(page["checkpoint"].get<std::string>(), Fetch(server).key);
  ASSERT_TRUE(cp.ok()) << cp.status();
  std::set<std::string> types;
  for (const Json& e : page["entries"]) {
    const std::string entry = e["entry"];
    EXPECT_NE(entry.find(bob), std::string::npos) << entry;  // about bob, and only bob
    EXPECT_TRUE(
        translog::VerifyInclusion(e["index"], cp->size, translog::LeafHash(entry), Hashes(e["proof"]), cp->root).ok());
    types.insert(translog::EventFromEntry(entry)->type);
  }
  EXPECT_TRUE(types.count("principal.created"));
  EXPECT_TRUE(types.count("key.created"));
  EXPECT_TRUE(types.count("access.decision"));

  // Paging continues after the last index.
  Json next = server.CallJson("GET", fmt::format("/log/mine?after={}", page["next_after"].get<int64_t>()), "", key);
  for (const Json& e : next["entries"]) EXPECT_GT(e["index"], page["next_after"]);
  EXPECT_EQ(server.Call("GET", "/log/mine?limit=0", "", key).status, 400);

  // The CLI does the same, checking every proof.
  const std::string vkey = Trim(server.Call("GET", "/log/key").body);
  auto [rc, out] =
      RunCli(fmt::format("log mine --url http://127.0.0.1:{} --api-key {} --key '{}'", server.port(), key, vkey));
  EXPECT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("each with a verified inclusion proof"), std::string::npos) << out;
}

TEST(LogTest, VerifyFollowsTheLogAndRemembersItsState) {
  TestServer server(Unlimited());
  for (int i = 0; i < 40; ++i) server.Call("GET", "/v1/models");
  server.services().recorder->Flush();
  const std::string vkey = Trim(server.Call("GET", "/log/key").body);
  const std::string state = server.dir().path + "/../verify-state.json";
  const std::string args =
      fmt::format("log verify --url http://127.0.0.1:{} --key '{}' --state {}", server.port(), vkey, state);
  auto [rc, out] = RunCli(args);
  ASSERT_EQ(rc, 0) << out;
  EXPECT_NE(out.find("entries recomputed from the start"), std::string::npos) << out;
  for (int i = 0; i < 300; ++i) server.Call("GET", "/v1/models");
  server.services().recorder->Flush();
  auto [rc2, out2] = RunCli(args);
  ASSERT_EQ(rc2, 0) << out2;
  EXPECT_NE(out2.find("consistent with the saved checkpoint"), std::string::npos) << out2;

  // The wrong key is refused.
  auto [rc3, out3] = RunCli(fmt::format("log verify --url http://127.0.0.1:{} --key '{}'", server.port(),
                                        "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"));
  EXPECT_NE(rc3, 0) << out3;
  EXPECT_NE(out3.find("no signature by key"), std::string::npos) << out3;

  auto [rc4, out4] = RunCli(fmt::format("log show --url http://127.0.0.1:{} --count 3", server.port()));
  EXPECT_EQ(rc4, 0) << out4;
  EXPECT_NE(out4.find("access.decision"), std::string::npos) << out4;
}

TEST(LogTest, VerifyNamesAnEntryAlteredInTheDatabase) {
  TestServer server(Unlimited());
  for (int i = 0; i < 10; ++i) server.Call("GET", "/v1/models");
  server.services().recorder->Flush();
  const std::string vkey = Trim(server.Call("GET", "/log/key").body);
  const std::string url = fmt::format("http://127.0.0.1:{}", server.port());
  auto [ok_rc, ok_out] = RunCli(fmt::format("log verify --url {} --key '{}'", url, vkey));
  ASSERT_EQ(ok_rc, 0) << ok_out;

  // Someone with write access to the database rewrites entry 5 in place.
  const std::string forged = R"({"actor":"anonymous","details":{},"type":"nothing.happened"})";
  absl::Status tampered = store::testing::TamperLogEntry(server.dir().store_location(), 5, forged);
  ASSERT_TRUE(tampered.ok()) << tampered;

  auto [rc, out] = RunCli(fmt::format("log verify --url {} --key '{}'", url, vkey));
  EXPECT_NE(rc, 0) << out;
  EXPECT_NE(out.find("index 5 was altered"), std::string::npos) << out;
  EXPECT_NE(out.find(translog::HashHex(translog::LeafHash(forged))), std::string::npos) << out;
}

}  // namespace
}  // namespace aperture::testing
