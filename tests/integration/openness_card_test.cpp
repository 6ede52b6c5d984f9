// The openness card of fixtures, computed by a real server from what it
// serves: MOF classes follow the levels, licences and declarations, and
// only declared components are marked declared.
#include <gtest/gtest.h>

#include "fmt/format.h"
#include "tests/integration/test_server.h"

namespace aperture::testing {
namespace {

class OpennessCardTest : public ::testing::Test {
 protected:
  void Owner(const std::string& method, const std::string& target, const std::string& body) {
    auto r = server_.Call(method, target, body, server_.owner_key());
    ASSERT_EQ(r.status, 200) << method << " " << target << ": " << r.body;
  }
  Json Card(const std::string& model) { return server_.CallJson("GET", fmt::format("/v1/models/{}/openness", model)); }
  static const Json& Component(const Json& card, const std::string& id) {
    for (const Json& c : card["components"]) {
      if (c["id"] == id) return c;
    }
    static const Json kNone;
    ADD_FAILURE() << "no component " << id;
    return kNone;
  }
  // A finished evaluation of `model`, as the release policy's runs leave them.
  void Evaluated(const std::string& model) {
    EvalRun run;
    run.id = "evr_" + model;
    run.model_id = model;
    run.suite_name = "hazard-proxy";
    run.suite_domain = "cyber";
    run.suite_version = "1";
    run.suite_sha256 = std::string(64, 'c');
    run.suite_path = "/suites/hazard.jsonl";
    run.total_items = 4;
    run.started_by = "cli";
    run.created_at = server_.clock().NowSeconds();
    ASSERT_TRUE(server_.services().store->CreateEvalRun(run).ok());
    run.state = EvalRunState::kFinished;
    run.metrics = R"({"accuracy":0.25})";
    run.tiers = R"({"cyber":"low"})";
    run.results_sha256 = std::string(64, 'd');
    run.finished_at = run.created_at + 1;
    ASSERT_TRUE(server_.services().store->FinishEvalRun(run).ok());
  }
  // Everything Class III asks for but the licence, which the test chooses.
  void Document(const std::string& model) {
    Owner("POST", fmt::format("/v1/admin/models/{}/card", model), R"({"card":"# Model card\nIntended use: stories."})");
    Owner("PUT", fmt::format("/v1/models/{}/openness/data-card", model),
          R"({"url":"https://example.org/data-card.md","licence":"CC-BY-4.0"})");
    Owner("PUT", fmt::format("/v1/models/{}/openness/technical-report", model),
          R"({"url":"https://example.org/report.pdf","licence":"CC-BY-4.0","note":"section 4: evaluation"})");
    Evaluated(model);
  }

  TestServer server_;
};

TEST_F(OpennessCardTest, AnApiModelWithNothingDeclaredIsNotClassThree) {
  server_.AddModel("api", Level::kApi);
  Json card = Card("api");
  EXPECT_TRUE(card["class"]["reached"].is_null()) << card.dump(2);
  EXPECT_EQ(card["class"]["status"], "in progress");
  const Json& weights = Component(card, "model-parameters-final");
  EXPECT_EQ(weights["source"], "verified");
  EXPECT_EQ(weights["public"], false);
  EXPECT_EQ(weights["counts"], false);
  // What the server runs itself counts, under Aperture's licence.
  EXPECT_EQ(Component(card, "inference-code")["licence"], "MIT");
  EXPECT_EQ(Component(card, "inference-code")["counts"], true);
  EXPECT_EQ(Component(card, "model-architecture")["counts"], true);
  EXPECT_EQ(card["osaid"]["meets"], false);
}

TEST_F(OpennessCardTest, AtDownloadUnderApacheWithItsDocumentsItIsClassThree) {
  server_.AddModel("open-weights", Level::kDownload);
  Owner("PUT", "/v1/models/open-weights/licence", R"({"spdx_id":"Apache-2.0","text":"Apache License 2.0 ..."})");
  Document("open-weights");
  Json card = Card("open-weights");
  EXPECT_EQ(card["class"]["reached"], "Class III") << card.dump(2);
  // Apache-2.0 is a software licence on data: the Model Openness Tool's conditional pass.
  EXPECT_EQ(card["class"]["status"], "conditional");
  EXPECT_EQ(Component(card, "model-parameters-final")["licence"], "Apache-2.0");
  EXPECT_EQ(Component(card, "evaluation-results")["source"], "verified");
  EXPECT_EQ(Component(card, "evaluation-code")["counts"], true);
  EXPECT_EQ(card["class"]["declared_components_counted"], 2);
  // The badge says the same.
  auto badge = server_.Call("GET", "/v1/models/open-weights/openness.svg");
  EXPECT_EQ(badge.status, 200);
  EXPECT_EQ(badge.Header("content-type"), "image/svg+xml");
  EXPECT_NE(badge.body.find("Class III conditional"), std::string::npos);
}

TEST_F(OpennessCardTest, OpenDataWeightsQualifyOutright) {
  server_.AddModel("data-weights", Level::kOpen);
  Owner("PUT", "/v1/models/data-weights/licence", R"({"spdx_id":"CC-BY-4.0","text":"Attribution 4.0 ..."})");
  Document("data-weights");
  Json card = Card("data-weights");
  EXPECT_EQ(card["class"]["reached"], "Class III") << card.dump(2);
  EXPECT_EQ(card["class"]["status"], "qualified");
}

TEST_F(OpennessCardTest, UnderARestrictiveCustomLicenceItIsNotAndSaysWhy) {
  server_.AddModel("restricted", Level::kDownload);
  Owner("PUT", "/v1/models/restricted/licence",
        R"({"name":"Acme Responsible Use Licence","text":"No commercial use. No derivatives."})");
  Document("restricted");
  Json card = Card("restricted");
  EXPECT_TRUE(card["class"]["reached"].is_null()) << card.dump(2);
  const Json& weights = Component(card, "model-parameters-final");
  EXPECT_EQ(weights["counts"], false);
  EXPECT_NE(weights["why_not"].get<std::string>().find("Acme Responsible Use Licence"), std::string::npos);
  EXPECT_NE(weights["why_not"].get<std::string>().find("not a recognised open licence"), std::string::npos);
  bool said = false;
  for (const Json& m : card["classes"][0]["missing"]) {
    said = said || m.get<std::string>().find("Model parameters (Final)") != std::string::npos;
  }
  EXPECT_TRUE(said);
}

TEST_F(OpennessCardTest, OnlyDeclaredComponentsAreMarkedDeclared) {
  server_.AddModel("m", Level::kDownload);
  Owner("PUT", "/v1/models/m/licence", R"({"spdx_id":"Apache-2.0","text":"Apache License 2.0 ..."})");
  Document("m");
  // Declaring a component the server serves does not turn it into a claim.
  Owner("PUT", "/v1/models/m/openness/model-card", R"({"url":"https://example.org/card"})");
  Json card = Card("m");
  for (const Json& c : card["components"]) {
    const std::string id = c["id"];
    const bool declared = id == "data-card" || id == "technical-report";
    EXPECT_EQ(c["source"] == "declared", declared) << id;
  }
  EXPECT_EQ(Component(card, "model-card")["source"], "verified");
  // Withdrawing a declaration takes it off the card.
  Owner("DELETE", "/v1/models/m/openness/data-card", "");
  EXPECT_EQ(Component(Card("m"), "data-card")["source"], "none");
}

TEST_F(OpennessCardTest, DeclarationsAreOwnersOnlyAndChecked) {
  server_.AddModel("m", Level::kHosted);
  server_.AddPrincipal("ada", Role::kMember);
  const std::string key = server_.CreateKey("ada");
  EXPECT_EQ(server_.Call("PUT", "/v1/models/m/openness/data-card", R"({"url":"https://x.org"})", key).status, 403);
  auto bad = server_.Call("PUT", "/v1/models/m/openness/weights", R"({"url":"https://x.org"})", server_.owner_key());
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("data-card"), std::string::npos);  // lists the valid ids
  EXPECT_EQ(
      server_.Call("PUT", "/v1/models/m/openness/data-card", R"({"url":"javascript:x"})", server_.owner_key()).status,
      400);
  EXPECT_EQ(server_.Call("DELETE", "/v1/models/m/openness/data-card", "", server_.owner_key()).status, 404);
  server_.AddModel("hidden", Level::kClosed);
  EXPECT_EQ(server_.Call("GET", "/v1/models/hidden/openness", "", key).status, 404);
}

}  // namespace
}  // namespace aperture::testing
