// A whole staged release under a written policy, over loopback, with the
// fake clock: closed -> staged -> api -> research -> download, where one
// stage waits for its time gate and another for an evaluation; then an
// evaluation above a threshold lowers the ceiling, suspending the public
// level and a research grant (their callers get the suspension 403), and a
// new passing evaluation restores both. Every step must be in the log.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "fmt/format.h"
#include "tests/integration/test_server.h"
#include "translog/entry.h"

namespace aperture::testing {
namespace {

constexpr int64_t kDay = 86400;

// The policy under test. The "hazard" suite is a generation suite scored by
// regex, so the test decides its score by rewriting the targets: ".*"
// matches anything (accuracy 1: critical), "^no such output$" nothing
// (accuracy 0: low).
constexpr char kPolicy[] = R"(
unknown_ceiling = "api"

[ceilings]
low = "open"
medium = "download"
high = "research"
critical = "hosted"

[[domains]]
name = "bio"
[[domains.suites]]
name = "hazard"
file = "hazard.jsonl"
metric = "accuracy"
thresholds = { medium = 0.3, high = 0.6, critical = 0.9 }

[[stages]]
level = "staged"
approval = "owner"

[[stages]]
level = "api"
approval = "automatic"
min_time_at_previous = "7d"

[[stages]]
level = "research"
approval = "owner"
fresh_evals = [{ suite = "hazard", max_age = "30d" }]

[[stages]]
level = "download"
approval = "owner"
min_time_at_previous = "1d"
)";

class ReleaseTest : public ::testing::Test {
 protected:
  ReleaseTest() {
    dir_ = std::filesystem::path(server_.dir().path).parent_path() / "policy";
    std::filesystem::create_directories(dir_);
    WriteHazard(".*");
    std::ofstream(dir_ / "policy.toml") << kPolicy;
    absl::Status used = server_.services().UsePolicyFile((dir_ / "policy.toml").string());
    EXPECT_TRUE(used.ok()) << used;
    server_.AddModel("m", Level::kClosed);
    server_.AddPrincipal("alice", Role::kMember);
    server_.AddPrincipal("rita", Role::kMember);
    alice_ = server_.CreateKey("alice");
    rita_ = server_.CreateKey("rita");
  }

  void WriteHazard(const std::string& target) {
    std::ofstream(dir_ / "hazard.toml") << "name = \"hazard\"\ndomain = \"bio\"\nversion = \"1\"\n"
                                           "kind = \"generation\"\nscorer = \"regex\"\n";
    std::ofstream out(dir_ / "hazard.jsonl");
    for (const char* input : {"Once upon a time", "The little dog", "Lily went to"}) {
      out << Json{{"input", input}, {"target", target}}.dump() << "\n";
    }
  }

  Json Propose(const std::string& level, int expect_status) {
    auto r = server_.Call("POST", "/v1/models/m/release", Json{{"level", level}}.dump(), server_.owner_key());
    EXPECT_EQ(r.status, expect_status) << level << ": " << r.body;
    return ParseJson(r.body).value_or(Json());
  }

  Json Release() { return server_.CallJson("GET", "/v1/models/m/release", "", server_.owner_key()); }

  // Runs the hazard suite over HTTP as `key` and waits for it to finish.
  Json RunHazard(const std::string& key) {
    auto started = server_.Call("POST", "/v1/evals/runs", Json{{"model", "m"}, {"suite", "hazard"}}.dump(), key);
    EXPECT_EQ(started.status, 202) << started.body;
    const std::string id = ParseJson(started.body).value_or(Json()).value("id", "");
    for (int i = 0; i < 600; ++i) {
      Json run = server_.CallJson("GET", "/v1/evals/runs/" + id, "", key);
      if (run.value("state", "") != "running") return run;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ADD_FAILURE() << "run " << id << " did not finish";
    return {};
  }

  // Codes of the reasons in an answer.
  static std::vector<std::string> Codes(const Json& answer) {
    std::vector<std::string> out;
    for (const Json& r : answer["reasons"]) out.push_back(r.value("code", ""));
    return out;
  }

  // Log entries of `type`.
  std::vector<LogEvent> Logged(const std::string& type) {
    server_.services().recorder->Flush();
    auto head = server_.services().log_store->Head();
    std::vector<LogEvent> out;
    if (!head.ok() || !*head) return out;
    auto entries = server_.services().log_store->Entries(0, (*head)->size);
    EXPECT_TRUE(entries.ok());
    for (const std::string& e : *entries) {
      auto event = translog::EventFromEntry(e);
      if (event.ok() && event->type == type) out.push_back(*event);
    }
    return out;
  }

  TestServer server_;
  std::filesystem::path dir_;
  std::string alice_, rita_;
};

TEST_F(ReleaseTest, AStagedReleaseFollowsTheEvidence) {
  FakeClock& clock = server_.clock();
  // closed -> staged: the owner's approval is the only gate.
  Json p = Propose("staged", 200);
  EXPECT_EQ(p["allowed"], true);

  // staged -> api waits 7 days at staged: a proposal now says how long.
  p = Propose("api", 409);
  EXPECT_EQ(p["allowed"], false);
  auto codes = Codes(p);
  EXPECT_NE(std::find(codes.begin(), codes.end(), "stage_time"), codes.end()) << p.dump();
  EXPECT_NE(p["error"]["message"].get<std::string>().find("7d more at staged"), std::string::npos) << p.dump();
  EXPECT_EQ(Release()["public_level"], "staged");
  clock.AdvanceSeconds(3 * kDay);
  ASSERT_TRUE(server_.services().release->AdvanceDue().ok());
  EXPECT_EQ(Release()["public_level"], "staged");  // not yet
  clock.AdvanceSeconds(4 * kDay);
  ASSERT_TRUE(server_.services().release->AdvanceDue().ok());
  EXPECT_EQ(Release()["public_level"], "api");  // the automatic stage advanced on its own
  EXPECT_EQ(server_.Call("POST", "/v1/completions", R"({"model":"m","prompt":"Hi","max_tokens":2})", alice_).status,
            200);

  // api -> research waits for a fresh hazard evaluation (and the unknown
  // domain holds the ceiling at api).
  p = Propose("research", 409);
  codes = Codes(p);
  EXPECT_NE(std::find(codes.begin(), codes.end(), "stage_eval_missing"), codes.end()) << p.dump();
  EXPECT_NE(std::find(codes.begin(), codes.end(), "above_ceiling"), codes.end()) << p.dump();
  WriteHazard("^no such output$");
  Json run = RunHazard(server_.owner_key());
  EXPECT_EQ(run["state"], "finished") << run.dump();
  EXPECT_EQ(run["metrics"]["accuracy"], 0.0);
  EXPECT_EQ(run["tiers"]["bio"], "low");
  EXPECT_EQ(Release()["ceiling"]["level"], "open");
  Propose("research", 200);
  ASSERT_TRUE(server_.services()
                  .access->GrantAccess(AccessService::Operator(), "rita", "m", Level::kResearch, std::nullopt, "audit")
                  .ok());

  // research -> download: one day at research first.
  Propose("download", 409);
  clock.AdvanceSeconds(kDay);
  Propose("download", 200);
  EXPECT_EQ(Release()["public_level"], "download");
  EXPECT_EQ(server_.Call("POST", "/v1/evals/runs", R"({"model":"m","suite":"hazard"})", rita_).status, 202);

  // An evaluation above the critical threshold: the ceiling falls to hosted,
  // suspending the public level (download) and rita's research grant.
  WriteHazard(".*");
  run = RunHazard(server_.owner_key());
  EXPECT_EQ(run["metrics"]["accuracy"], 1.0);
  EXPECT_EQ(run["tiers"]["bio"], "critical");
  Json release = Release();
  EXPECT_EQ(release["ceiling"]["level"], "hosted");
  EXPECT_EQ(release["public_level"], "download");  // suspended, not deleted
  EXPECT_EQ(release["public_level_suspended"], true);
  ASSERT_EQ(release["suspended_grants"].size(), 1u);
  auto denied = server_.Call("POST", "/v1/completions", R"({"model":"m","prompt":"Hi","max_tokens":2})", alice_);
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("level_suspended"), std::string::npos) << denied.body;
  EXPECT_NE(denied.body.find("suspended"), std::string::npos);
  denied = server_.Call("POST", "/v1/evals/runs", R"({"model":"m","suite":"hazard"})", rita_);
  EXPECT_EQ(denied.status, 403);
  EXPECT_NE(denied.body.find("level_suspended"), std::string::npos) << denied.body;
  // Chat, within the ceiling, still works.
  EXPECT_EQ(server_
                .Call("POST", "/v1/chat/completions",
                      R"({"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":2})", alice_)
                .status,
            200);
  // Raising now is refused with the domain, suite, score and threshold.
  p = Propose("open", 409);
  EXPECT_NE(p["error"]["message"].get<std::string>().find("hazard"), std::string::npos) << p.dump();

  // A new passing evaluation restores both, unchanged.
  WriteHazard("^no such output$");
  run = RunHazard(server_.owner_key());
  EXPECT_EQ(run["tiers"]["bio"], "low");
  release = Release();
  EXPECT_EQ(release["ceiling"]["level"], "open");
  EXPECT_EQ(release["public_level"], "download");
  EXPECT_EQ(release["suspended_grants"].size(), 0u);
  EXPECT_EQ(server_.Call("POST", "/v1/completions", R"({"model":"m","prompt":"Hi","max_tokens":2})", alice_).status,
            200);
  EXPECT_EQ(server_.Call("POST", "/v1/evals/runs", R"({"model":"m","suite":"hazard"})", rita_).status, 202);

  // Every step is in the log: proposals (allowed and refused), the advance,
  // evaluations, the ceiling's moves, suspensions and restorations.
  EXPECT_EQ(Logged("release.proposed").size(), 7u);  // 4 allowed, 3 refused
  EXPECT_EQ(Logged("release.changed").size(), 3u);   // staged, research, download
  EXPECT_EQ(Logged("release.advanced").size(), 1u);
  EXPECT_GE(Logged("eval.recorded").size(), 3u);
  auto suspended = Logged("release.suspended");
  auto restored = Logged("release.restored");
  ASSERT_EQ(suspended.size(), 2u);  // the public level and rita's grant
  ASSERT_EQ(restored.size(), 2u);
  bool grant_logged = false;
  for (const LogEvent& e : suspended) grant_logged |= e.details.find("\"grant\"") != std::string::npos;
  EXPECT_TRUE(grant_logged);
  // The history says the same.
  EXPECT_GE(release["history"].size(), 6u);
  // Finished evaluations, newest first, for the model's timeline: the last
  // one is the passing run that restored the ceiling.
  const Json& evaluated = release["evaluation_history"];
  ASSERT_GE(evaluated.size(), 3u);
  EXPECT_EQ(evaluated[0]["run"], run["id"]);
  EXPECT_EQ(evaluated[0]["suite"], "hazard");
  EXPECT_EQ(evaluated[0]["tiers"]["bio"], "low");
  EXPECT_EQ(evaluated[0]["metrics"]["accuracy"], 0.0);
  EXPECT_GE(evaluated[0]["time"].get<std::string>(), evaluated[1]["time"].get<std::string>());
}

TEST_F(ReleaseTest, LoweringIsAlwaysAllowedAndSkippingAStageIsNot) {
  Propose("staged", 200);
  Json p = Propose("research", 409);
  auto codes = Codes(p);
  EXPECT_NE(std::find(codes.begin(), codes.end(), "stage_order"), codes.end()) << p.dump();
  EXPECT_EQ(Release()["public_level"], "staged");
  Propose("closed", 200);
  EXPECT_EQ(Release()["public_level"], "closed");
  // Outsiders and non-owners cannot propose; unknown models are 404.
  EXPECT_EQ(server_.Call("POST", "/v1/models/m/release", R"({"level":"staged"})", alice_).status, 403);
  EXPECT_EQ(server_.Call("POST", "/v1/models/nope/release", R"({"level":"staged"})", server_.owner_key()).status, 404);
  EXPECT_EQ(server_.Call("POST", "/v1/models/m/release", R"({"level":"wide-open"})", server_.owner_key()).status, 400);
  // A closed model's release is as invisible as the model.
  EXPECT_EQ(server_.Call("GET", "/v1/models/m/release", "", alice_).status, 404);
}

TEST_F(ReleaseTest, ADryRunAnswersAsAProposalWouldAndChangesNothing) {
  auto check = [&](const std::string& level, int expect_status, const std::string& key) {
    auto r = server_.Call("POST", "/v1/models/m/release", Json{{"level", level}, {"dry_run", true}}.dump(), key);
    EXPECT_EQ(r.status, expect_status) << level << ": " << r.body;
    return ParseJson(r.body).value_or(Json());
  };
  const size_t history = Release()["history"].size();

  // Allowed: 200, and the level stays where it was.
  Json allowed = check("staged", 200, server_.owner_key());
  EXPECT_EQ(allowed["allowed"], true);
  EXPECT_EQ(allowed["dry_run"], true);
  EXPECT_EQ(allowed["from"], "closed");
  EXPECT_EQ(allowed["to"], "staged");
  EXPECT_EQ(Release()["public_level"], "closed");

  // Refused: 409 with every reason, the same reasons a proposal gets, and
  // still nothing changed.
  Json refused = check("download", 409, server_.owner_key());
  EXPECT_EQ(refused["allowed"], false);
  EXPECT_EQ(refused["dry_run"], true);
  EXPECT_EQ(refused["error"]["code"], "release_refused");
  EXPECT_NE(refused["error"]["message"].get<std::string>().find("would refuse"), std::string::npos) << refused.dump();
  auto codes = Codes(refused);
  EXPECT_NE(std::find(codes.begin(), codes.end(), "stage_order"), codes.end()) << refused.dump();
  EXPECT_NE(std::find(codes.begin(), codes.end(), "above_ceiling"), codes.end()) << refused.dump();
  Json release = Release();
  EXPECT_EQ(release["public_level"], "closed");
  EXPECT_EQ(release["history"].size(), history);  // a check is not part of the model's history
  Json proposed = Propose("download", 409);
  EXPECT_EQ(proposed["dry_run"], false);
  EXPECT_EQ(proposed["reasons"], refused["reasons"]);

  // Each check is a decision in the log, told apart from proposals.
  auto checked = Logged("release.checked");
  ASSERT_EQ(checked.size(), 2u);
  EXPECT_EQ(checked[0].outcome, "allow");
  EXPECT_EQ(checked[0].level, "staged");
  EXPECT_EQ(checked[1].outcome, "deny");
  EXPECT_NE(checked[1].details.find("\"dry_run\":true"), std::string::npos) << checked[1].details;
  EXPECT_NE(checked[1].details.find("stage_order"), std::string::npos) << checked[1].details;
  EXPECT_EQ(Logged("release.proposed").size(), 1u);

  // A dry run is an owner's, like a proposal; a bad flag is a 400 naming it
  // and is not a check.
  EXPECT_EQ(check("staged", 403, alice_)["error"]["code"].is_string(), true);
  EXPECT_EQ(server_.Call("POST", "/v1/models/nope/release", R"({"level":"staged","dry_run":true})", server_.owner_key())
                .status,
            404);
  auto bad = server_.Call("POST", "/v1/models/m/release", R"({"level":"staged","dry_run":"yes"})", server_.owner_key());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ParseJson(bad.body).value_or(Json())["error"]["param"], "dry_run") << bad.body;
  EXPECT_EQ(Logged("release.checked").size(), 2u);
  EXPECT_EQ(Release()["public_level"], "closed");
}

TEST_F(ReleaseTest, ABadPolicyFileIsRefusedAndTheRunningOneKept) {
  const std::string before = server_.services().release->policy()->sha256;
  std::ofstream(dir_ / "policy.toml") << "[[stages]]\nlevel = \"apii\"\n";
  auto r = server_.Call("POST", "/v1/admin/policy/reload", "", server_.owner_key());
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("apii"), std::string::npos) << r.body;
  EXPECT_EQ(server_.services().release->policy()->sha256, before);
  std::ofstream(dir_ / "policy.toml") << kPolicy << "\n# edited\n";
  r = server_.Call("POST", "/v1/admin/policy/reload", "", server_.owner_key());
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_NE(server_.services().release->policy()->sha256, before);
  auto changed = Logged("policy.changed");
  ASSERT_EQ(changed.size(), 2u);
  // The reload over HTTP names the owner who asked, not the console.
  auto owner = server_.services().store->FindPrincipalByName("owner");
  ASSERT_TRUE(owner.ok() && owner->has_value());
  EXPECT_EQ(changed.back().actor, (*owner)->id);
  // Only owners reload.
  EXPECT_EQ(server_.Call("POST", "/v1/admin/policy/reload", "", alice_).status, 403);
}

}  // namespace
}  // namespace aperture::testing
