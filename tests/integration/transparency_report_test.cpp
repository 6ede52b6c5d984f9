// The transparency report of a real server: signed with the key it
// publishes, its access statistics equal to a recount of the log's entries
// up to the checkpoint it names, and the same report as an HTML page.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "distribution/ecdsa_key.h"
#include "fmt/format.h"
#include "report/report_service.h"
#include "tests/integration/test_server.h"

namespace aperture::testing {
namespace {

// Recounts access per level from raw entries, written here from the rules in
// docs/openness.md, not with the server's code.
Json Recount(const std::vector<std::string>& entries, const std::string& model) {
  struct Counts {
    std::set<std::string> principals;
    int64_t requests = 0, denied = 0, failed = 0, tokens = 0, downloads = 0, bytes = 0, research = 0;
  };
  std::map<std::string, Counts> by_level;
  for (const std::string& text : entries) {
    Json e = *ParseJson(text);
    if (e["model"] != model) continue;
    const std::string type = e["type"];
    std::string level = e["level"];
    if (level.empty()) level = "none";
    const Json& d = e["details"];
    if (type == "access.decision") {
      Counts& c = by_level[level];
      if (e["outcome"] == "allow") {
        ++c.requests;
        if (e["actor"] != "anonymous") c.principals.insert(e["actor"].get<std::string>());
        if (d.value("route", "").rfind("research.", 0) == 0) ++c.research;
      } else if (e["outcome"] == "deny") {
        ++c.denied;
      } else if (e["outcome"] == "error") {
        ++c.failed;
      }
    } else if (type == "completion") {
      by_level[level].tokens += d.value("prompt_tokens", 0) + d.value("completion_tokens", 0);
    } else if (type == "embedding") {
      by_level[level].tokens += d.value("prompt_tokens", 0);
    } else if (type == "download") {
      ++by_level[level].downloads;
      by_level[level].bytes += d.value("bytes_served", 0);
    }
  }
  Json out = Json::object();
  for (const auto& [level, c] : by_level) {
    out[level] = {{"principals", c.principals.size()},
                  {"requests", c.requests},
                  {"denied", c.denied},
                  {"failed", c.failed},
                  {"tokens", c.tokens},
                  {"downloads", c.downloads},
                  {"download_bytes", c.bytes},
                  {"research_queries", c.research}};
  }
  return out;
}

class TransparencyReportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.AddModel("m", Level::kHosted);
    server_.AddPrincipal("ada", Role::kMember);
    server_.AddPrincipal("bob", Role::kMember);
    ada_ = server_.CreateKey("ada");
    bob_ = server_.CreateKey("bob");
    const Caller op = AccessService::Operator();
    ASSERT_TRUE(server_.services().access->GrantAccess(op, "ada", "m", Level::kApi, std::nullopt, "study").ok());
    ASSERT_TRUE(server_.services().access->GrantAccess(op, "bob", "m", Level::kResearch, std::nullopt, "audit").ok());
  }

  // All entries [0, size), read through the public log API in pages.
  std::vector<std::string> Entries(int64_t size) {
    std::vector<std::string> out;
    while (static_cast<int64_t>(out.size()) < size) {
      Json page = server_.CallJson("GET", fmt::format("/log/entries?start={}&end={}", out.size(), size));
      EXPECT_FALSE(page["entries"].empty());
      if (page["entries"].empty()) break;
      for (const Json& e : page["entries"]) out.push_back(e["entry"]);
    }
    return out;
  }

  TestServer server_;
  std::string ada_, bob_;
};

TEST_F(TransparencyReportTest, AccessStatisticsEqualARecountOfTheLog) {
  const std::string chat = R"({"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4})";
  ASSERT_EQ(server_.Call("POST", "/v1/chat/completions", chat).status, 200);  // anonymous, hosted
  ASSERT_EQ(server_.Call("POST", "/v1/chat/completions", chat).status, 200);
  ASSERT_EQ(server_.Call("POST", "/v1/completions", R"({"model":"m","prompt":"Once","max_tokens":3})", ada_).status,
            200);
  ASSERT_EQ(server_.Call("POST", "/v1/embeddings", R"({"model":"m","input":"a cat"})", ada_).status, 200);
  const std::string research = R"({"model":"m","input":"Once upon a time","return":{"top_k":3}})";
  EXPECT_EQ(server_.Call("POST", "/v1/research/run", research, ada_).status, 403);  // denied at api
  auto run = server_.Call("POST", "/v1/research/run", research, bob_);              // allowed at research
  EXPECT_EQ(run.status, 200) << run.body;
  EXPECT_EQ(server_.Call("GET", "/v1/models/m/download", "", bob_).status, 403);
  server_.services().recorder->Flush();

  auto response = server_.Call("GET", "/v1/models/m/report");
  ASSERT_EQ(response.status, 200) << response.body;
  auto key = distribution::EcdsaP256Verifier::FromPem(server_.Call("GET", "/v1/signing-key").body);
  ASSERT_TRUE(key.ok());
  auto report = report::VerifySignedReport(response.body, *key);
  ASSERT_TRUE(report.ok()) << report.status();

  const int64_t size = (*report)["checkpoint"]["size"];
  const Json recount = Recount(Entries(size), "m");
  EXPECT_EQ((*report)["access"]["by_level"], recount) << DumpJson((*report)["access"], 2) << "\n"
                                                      << DumpJson(recount, 2);
  // And the numbers are the traffic above.
  EXPECT_EQ(recount["hosted"]["requests"], 2);
  EXPECT_EQ(recount["api"]["principals"], 1);
  EXPECT_GT(recount["api"]["tokens"], 0);
  EXPECT_EQ(recount["api"]["denied"], 1);
  EXPECT_EQ(recount["research"]["research_queries"], 1);
  // The checkpoint it names is the log's signed head at that size.
  EXPECT_NE((*report)["checkpoint"]["note"].get<std::string>().find(fmt::format("\n{}\n", size)), std::string::npos);
}

TEST_F(TransparencyReportTest, TheReportCarriesTheReleaseLicenceManifestAndCard) {
  ASSERT_EQ(
      server_.Call("PUT", "/v1/models/m/licence", R"({"spdx_id":"MIT","text":"MIT License ..."})", server_.owner_key())
          .status,
      200);
  ASSERT_EQ(server_.Call("POST", "/v1/models/m/release", R"({"level":"api"})", server_.owner_key()).status, 200);
  auto response = server_.Call("GET", "/v1/models/m/report");
  ASSERT_EQ(response.status, 200);
  Json j = *ParseJson(response.body);
  const Json& r = j["report"];
  EXPECT_EQ(r["release"]["public_level"], "api");
  ASSERT_FALSE(r["release"]["history"].empty());
  EXPECT_EQ(r["release"]["history"].back()["to"], "api");
  EXPECT_EQ(r["licence"]["spdx_id"], "MIT");
  EXPECT_EQ(r["manifest"]["root_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ(r["openness"]["object"], "openness_card");
  EXPECT_EQ(r["findings"]["tracked"], false);
  EXPECT_EQ(r["findings"]["total"], 0);
  EXPECT_EQ(j["verification"]["key"], "/v1/signing-key");
  // A tampered report no longer verifies.
  auto key = distribution::EcdsaP256Verifier::FromPem(server_.Call("GET", "/v1/signing-key").body);
  Json tampered = j;
  tampered["report"]["release"]["public_level"] = "open";
  EXPECT_FALSE(report::VerifySignedReport(DumpJson(tampered), *key).ok());

  auto html = server_.Call("GET", "/v1/models/m/report", "", "", {"Accept: text/html"});
  EXPECT_EQ(html.status, 200);
  EXPECT_EQ(html.Header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(html.body.find("Transparency report: m"), std::string::npos);
  EXPECT_EQ(server_.Call("GET", "/v1/models/m/report.html").status, 200);
  server_.AddModel("hidden", Level::kClosed);
  EXPECT_EQ(server_.Call("GET", "/v1/models/hidden/report").status, 404);
}

}  // namespace
}  // namespace aperture::testing
