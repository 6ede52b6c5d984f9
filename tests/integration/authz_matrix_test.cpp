// Every release level x every capability x every kind of key: exactly the
// cells the level config allows succeed; every other cell gets its status.
#include <gtest/gtest.h>

#include <fstream>

#include "distribution/licence_terms.h"
#include "fmt/format.h"
#include "tests/integration/test_server.h"
#include "translog/entry.h"

namespace aperture::testing {
namespace {

enum class KeyState { kNone, kMalformed, kBadChecksum, kUnknown, kRevoked, kExpired, kExpiredGrant, kValid };
constexpr KeyState kAllKeyStates[] = {KeyState::kNone,         KeyState::kMalformed, KeyState::kBadChecksum,
                                      KeyState::kUnknown,      KeyState::kRevoked,   KeyState::kExpired,
                                      KeyState::kExpiredGrant, KeyState::kValid};

const char* Name(KeyState s) {
  switch (s) {
    case KeyState::kNone:
      return "no key";
    case KeyState::kMalformed:
      return "malformed key";
    case KeyState::kBadChecksum:
      return "bad checksum";
    case KeyState::kUnknown:
      return "unknown key";
    case KeyState::kRevoked:
      return "revoked key";
    case KeyState::kExpired:
      return "expired key";
    case KeyState::kExpiredGrant:
      return "expired grant";
    case KeyState::kValid:
      return "valid key";
  }
  return "";
}

struct Call {
  std::string method, target, body;
};

// The request that exercises one capability on one model.
Call RequestFor(Capability c, const std::string& model) {
  const std::string m = fmt::format("\"model\":\"{}\"", model);
  switch (c) {
    case Capability::kChat:
      return {"POST", "/v1/chat/completions",
              fmt::format(R"({{{},"messages":[{{"role":"user","content":"hi"}}],"max_tokens":2}})", m)};
    case Capability::kComplete:
      return {"POST", "/v1/completions", fmt::format(R"({{{},"prompt":"hi","max_tokens":2}})", m)};
    case Capability::kLogprobs:
      return {"POST", "/v1/completions", fmt::format(R"({{{},"prompt":"hi","max_tokens":2,"logprobs":2}})", m)};
    case Capability::kEmbed:
      return {"POST", "/v1/embeddings", fmt::format(R"({{{},"input":"hi"}})", m)};
    case Capability::kInspect:
      return {"POST", "/v1/research/run", fmt::format(R"({{{},"input":"hi","return":{{"top_k":1}}}})", m)};
    case Capability::kIntervene:
      return {"POST", "/v1/research/run",
              fmt::format(R"({{{},"input":"hi","return":{{"top_k":1}},
                  "interventions":[{{"hook":"hook_embed","op":"scale","scale":2}}]}})",
                          m)};
    case Capability::kEvaluate:
      return {"POST", "/v1/evals/runs", fmt::format(R"({{{},"suite":"none"}})", m)};
    case Capability::kFinetune:
      return {"POST", "/v1/fine_tuning/jobs", fmt::format("{{{}}}", m)};
    case Capability::kDownload:
      return {"GET", fmt::format("/v1/models/{}/download", model), ""};
  }
  return {};
}

// Capabilities this server already serves (the rest answer 501 once allowed).
// An allowed evaluation reaches its handler, which refuses a suite the
// (default, empty) release policy does not name: 400.
int ServedStatus(Capability c) {
  switch (c) {
    case Capability::kChat:
    case Capability::kComplete:
    case Capability::kLogprobs:
    case Capability::kEmbed:
    case Capability::kInspect:
    case Capability::kIntervene:
    case Capability::kDownload:
      return 200;
    case Capability::kEvaluate:
      return 400;
    default:
      return 501;
  }
}

// What the level config says a caller at `level` may do with `c`
// (a logprobs request is also a completion).
bool Allowed(const Config& config, Level level, Capability c) {
  const LevelLimits& l = config.Limits(level);
  return l.Allows(c) && (c != Capability::kLogprobs || l.Allows(Capability::kComplete));
}

TEST(AuthzMatrixTest, EveryLevelCapabilityAndKeyState) {
  Config config = DefaultConfig();
  TestServer server(config);
  server.AddPrincipal("member", Role::kMember);
  server.AddPrincipal("lapsed", Role::kMember);
  const std::string valid_key = server.CreateKey("member");
  const std::string lapsed_key = server.CreateKey("lapsed");
  const std::string revoked_key = server.CreateKey("member");
  const std::string expired_key = server.CreateKey("member", 60);
  {
    auto stored = server.services().store->FindApiKeyByHash(server.services().hasher->Hash(revoked_key));
    ASSERT_TRUE(stored.ok() && stored->has_value());
    ASSERT_TRUE(server.services().access->RevokeKey(AccessService::Operator(), (*stored)->id).ok());
  }
  // Right shape and checksum, but never issued by this server.
  const std::string unknown_key = GenerateApiKey();
  // Downloads below open need a licence; this one asks no acceptance, so the
  // matrix is about levels alone (the licence gate has its own tests).
  auto licence =
      distribution::ParseLicenceTerms({{"spdx_id", "MIT"}, {"text", "MIT"}, {"accept_levels", Json::array()}});
  ASSERT_TRUE(licence.ok());
  for (Level level : kAllLevels) {
    // Anonymous callers meet the public level on p_<level>; principals meet
    // their grant on g_<level>, whose public level is closed.
    server.AddModel(fmt::format("p_{}", LevelName(level)), level);
    const std::string granted = fmt::format("g_{}", LevelName(level));
    server.AddModel(granted, Level::kClosed);
    for (const std::string& id : {fmt::format("p_{}", LevelName(level)), granted}) {
      ASSERT_TRUE(server.services().distribution->SetLicence(AccessService::Operator(), id, *licence).ok());
    }
    ASSERT_TRUE(server.services()
                    .access->GrantAccess(AccessService::Operator(), "member", granted, level, std::nullopt, "matrix")
                    .ok());
    ASSERT_TRUE(
        server.services().access->GrantAccess(AccessService::Operator(), "lapsed", granted, level, 60, "matrix").ok());
  }
  std::string bad_checksum = valid_key;
  bad_checksum.back() = bad_checksum.back() == 'A' ? 'B' : 'A';
  server.clock().AdvanceSeconds(120);  // expires expired_key and lapsed's grants

  std::ifstream in(kTestModelPath, std::ios::binary);
  const std::string model_bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  int cells = 0;
  for (Level level : kAllLevels) {
    for (Capability cap : kAllCapabilities) {
      for (KeyState state : kAllKeyStates) {
        const bool anonymous = state == KeyState::kNone;
        const std::string model = fmt::format("{}_{}", anonymous ? "p" : "g", LevelName(level));
        std::string key;
        switch (state) {
          case KeyState::kNone:
            break;
          case KeyState::kMalformed:
            key = "ak_short";
            break;
          case KeyState::kBadChecksum:
            key = bad_checksum;
            break;
          case KeyState::kUnknown:
            key = unknown_key;
            break;
          case KeyState::kRevoked:
            key = revoked_key;
            break;
          case KeyState::kExpired:
            key = expired_key;
            break;
          case KeyState::kExpiredGrant:
            key = lapsed_key;
            break;
          case KeyState::kValid:
            key = valid_key;
            break;
        }
        int expected;
        std::string code;
        bool key_broken = state == KeyState::kMalformed || state == KeyState::kBadChecksum ||
                          state == KeyState::kUnknown || state == KeyState::kRevoked || state == KeyState::kExpired;
        if (key_broken) {
          expected = 401;
        } else {
          // Effective level: public level for anonymous (nothing below hosted),
          // the grant for a valid key, nothing for an expired grant.
          Level effective = Level::kClosed;
          if (anonymous) effective = level >= Level::kHosted ? level : Level::kClosed;
          if (state == KeyState::kValid) effective = level;
          if (effective == Level::kClosed)
            expected = 404;
          else if (Allowed(config, effective, cap))
            expected = ServedStatus(cap);
          else
            expected = 403;
        }
        Call call = RequestFor(cap, model);
        auto r = server.Call(call.method, call.target, call.body, key);
        ++cells;
        EXPECT_EQ(r.status, expected) << "level " << LevelName(level) << ", capability " << CapabilityName(cap) << ", "
                                      << Name(state) << ": " << r.body;
        if (expected == 501) {
          EXPECT_NE(r.body.find("capability_unavailable"), std::string::npos);
        }
        if (expected == 400) {
          EXPECT_NE(r.body.find("not a suite of this server's release policy"), std::string::npos);
        }
        if (expected == 200 && cap == Capability::kDownload) {
          EXPECT_TRUE(r.body == model_bytes) << r.body.size();
        }
        if (expected == 200 && cap != Capability::kDownload) {
          EXPECT_NE(r.body.find("\"usage\""), std::string::npos);
        }
        if (expected == 403) {
          EXPECT_NE(r.body.find("needs level"), std::string::npos) << r.body;
        }
        if (expected == 401) {
          EXPECT_TRUE(r.Header("www-authenticate").has_value());
        }
      }
    }
  }
  EXPECT_EQ(cells, 7 * 9 * 8);

  // Every one of those decisions was recorded in the log, denials included.
  server.services().recorder->Flush();
  auto head = server.services().log->Head();
  ASSERT_TRUE(head.ok()) << head.status();
  auto entries = server.services().log->Entries(0, head->size);
  ASSERT_TRUE(entries.ok()) << entries.status();
  int decisions = 0, denials = 0;
  for (const std::string& entry : *entries) {
    auto e = translog::EventFromEntry(entry);
    ASSERT_TRUE(e.ok()) << e.status();
    decisions += e->type == "access.decision";
    denials += e->type == "access.decision" && e->outcome == "deny";
  }
  EXPECT_EQ(decisions, cells);
  EXPECT_GT(denials, cells / 2);
}

TEST(AuthzMatrixTest, ClosedModelIsInvisibleToOutsidersAndVisibleToItsOwner) {
  TestServer server;
  server.AddModel("secret", Level::kClosed);
  server.AddPrincipal("member", Role::kMember);
  const std::string member_key = server.CreateKey("member");
  auto missing = server.Call("GET", "/v1/models/nonexistent");
  auto hidden = server.Call("GET", "/v1/models/secret", "", member_key);
  EXPECT_EQ(hidden.status, 404);
  EXPECT_EQ(missing.status, 404);
  // Indistinguishable from a missing model but for the name in the message.
  EXPECT_EQ(ParseJson(hidden.body)->at("error").at("code"), ParseJson(missing.body)->at("error").at("code"));
  Json list = server.CallJson("GET", "/v1/models", "", member_key);
  EXPECT_TRUE(list["data"].empty());
  auto owner = server.Call("GET", "/v1/models/secret", "", server.owner_key());
  EXPECT_EQ(owner.status, 200);
  Json owner_list = server.CallJson("GET", "/v1/models", "", server.owner_key());
  ASSERT_EQ(owner_list["data"].size(), 1u);
  EXPECT_EQ(owner_list["data"][0]["id"], "secret");
}

TEST(AuthzMatrixTest, GrantsAbovePublicLevelWorkAndExpire) {
  TestServer server;
  server.AddModel("m", Level::kHosted);
  server.AddPrincipal("researcher", Role::kMember);
  const std::string key = server.CreateKey("researcher");
  const std::string inspect = R"({"model":"m","input":"hi","return":{"top_k":1}})";
  EXPECT_EQ(server.Call("POST", "/v1/research/run", inspect, key).status, 403);
  ASSERT_TRUE(
      server.services()
          .access
          ->GrantAccess(AccessService::Operator(), "researcher", "m", Level::kResearch, 3600, "interpretability study")
          .ok());
  EXPECT_EQ(server.Call("POST", "/v1/research/run", inspect, key).status, 200);
  Json models = server.CallJson("GET", "/v1/models", "", key);
  EXPECT_EQ(models["data"][0]["level"], "research");
  server.clock().AdvanceSeconds(3601);
  EXPECT_EQ(server.Call("POST", "/v1/research/run", inspect, key).status, 403);
  EXPECT_EQ(server.CallJson("GET", "/v1/models", "", key)["data"][0]["level"], "hosted");
}

// Separation of duties: nobody grants a level to themselves or approves
// their own access request; a reviewer grants and approves at most
// reviewer_grant_limit (default research); owners grant anything to others,
// recorded like everyone's grants. Every refusal names its rule.
class SeparationOfDutiesTest : public ::testing::Test {
 protected:
  explicit SeparationOfDutiesTest(Config config = DefaultConfig()) : server_(config) {
    server_.AddModel("m", Level::kHosted);
    rita_id_ = server_.AddPrincipal("rita", Role::kReviewer);
    server_.AddPrincipal("rob", Role::kReviewer);
    mia_id_ = server_.AddPrincipal("mia", Role::kMember);
    rita_ = server_.CreateKey("rita");
    rob_ = server_.CreateKey("rob");
    mia_ = server_.CreateKey("mia");
    auto owner = server_.services().store->FindPrincipalByName("owner");
    EXPECT_TRUE(owner.ok() && owner->has_value());
    owner_id_ = (*owner)->id;
  }

  http::TestResponse Grant(const std::string& key, const std::string& principal, Level level) {
    return server_.Call("POST", "/v1/admin/grants",
                        fmt::format(R"({{"principal":"{}","model":"m","level":"{}","reason":"sod test"}})", principal,
                                    LevelName(level)),
                        key);
  }
  std::string Submit(const std::string& key, Level level) {
    Json r = server_.CallJson(
        "POST", "/v1/access-requests",
        fmt::format(R"({{"model":"m","level":"{}","justification":"a study"}})", LevelName(level)), key);
    EXPECT_TRUE(r.contains("id")) << r;
    return r.value("id", "");
  }
  http::TestResponse Approve(const std::string& key, const std::string& id, std::string body = "{}") {
    return server_.Call("POST", fmt::format("/v1/admin/access-requests/{}/approve", id), body, key);
  }
  static std::string Code(const http::TestResponse& r) {
    auto j = ParseJson(r.body);
    return j.ok() && j->contains("error") ? (*j)["error"].value("code", "") : "";
  }
  std::vector<LogEvent> Logged(const std::string& type) {
    server_.services().recorder->Flush();
    auto head = server_.services().log->Head();
    std::vector<LogEvent> out;
    if (!head.ok()) return out;
    auto entries = server_.services().log->Entries(0, head->size);
    if (!entries.ok()) return out;
    for (const std::string& entry : *entries) {
      auto e = translog::EventFromEntry(entry);
      if (e.ok() && e->type == type) out.push_back(*e);
    }
    return out;
  }

  TestServer server_;
  std::string rita_id_, mia_id_, owner_id_;
  std::string rita_, rob_, mia_;
};

TEST_F(SeparationOfDutiesTest, GrantsByRoleRecipientAndLevel) {
  const Level limit = DefaultConfig().reviewer_grant_limit;
  ASSERT_EQ(limit, Level::kResearch);
  struct Actor {
    const char* name;
    std::string key;
    std::string id;
    bool owner;
  };
  const Actor actors[] = {{"reviewer", rita_, rita_id_, false}, {"owner", server_.owner_key(), owner_id_, true}};
  int granted = 0;
  for (const Actor& actor : actors) {
    for (Level level : kAllLevels) {
      SCOPED_TRACE(fmt::format("{} granting {}", actor.name, LevelName(level)));
      // Never to themselves, whatever their role or the level.
      auto self = Grant(actor.key, actor.id, level);
      EXPECT_EQ(self.status, 403) << self.body;
      EXPECT_EQ(Code(self), "self_grant") << self.body;
      EXPECT_NE(self.body.find("separation of duties"), std::string::npos) << self.body;
      // To someone else: a reviewer up to the limit, an owner anything.
      auto other = Grant(actor.key, mia_id_, level);
      if (actor.owner || level <= limit) {
        EXPECT_EQ(other.status, 201) << other.body;
        ++granted;
      } else {
        EXPECT_EQ(other.status, 403) << other.body;
        EXPECT_EQ(Code(other), "reviewer_grant_limit") << other.body;
        EXPECT_NE(other.body.find("needs an owner"), std::string::npos) << other.body;
      }
    }
  }
  // Every grant, the owner's included, is recorded with who granted it; the
  // refusals are recorded as denials naming their rule.
  auto grants = Logged("grant.created");
  ASSERT_EQ(static_cast<int>(grants.size()), granted);
  int by_owner = 0;
  for (const LogEvent& e : grants) by_owner += e.actor == owner_id_;
  EXPECT_EQ(by_owner, static_cast<int>(kAllLevels.size()));
  int self_refusals = 0, limit_refusals = 0;
  for (const LogEvent& e : Logged("access.decision")) {
    self_refusals += e.outcome == "deny" && e.reason == "self_grant";
    limit_refusals += e.outcome == "deny" && e.reason == "reviewer_grant_limit";
  }
  EXPECT_EQ(self_refusals, 2 * static_cast<int>(kAllLevels.size()));
  EXPECT_EQ(limit_refusals, 2);  // download and open
  // The CLI refuses a reviewer's self-grant the same way.
  Caller rita = AccessService::Operator();
  rita.principal = *server_.services().store->FindPrincipal(rita_id_).value();
  auto cli = server_.services().access->GrantAccess(rita, "rita", "m", Level::kApi, std::nullopt, "x");
  EXPECT_TRUE(absl::IsPermissionDenied(cli.status())) << cli.status();
}

TEST_F(SeparationOfDutiesTest, ApprovalsByRoleRequesterAndLevel) {
  // A reviewer cannot approve a download; approving it at research is fine.
  std::string request = Submit(mia_, Level::kDownload);
  auto refused = Approve(rita_, request);
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(Code(refused), "reviewer_grant_limit");
  EXPECT_NE(refused.body.find("approve at level 'research'"), std::string::npos) << refused.body;
  auto lowered = Approve(rita_, request, R"({"level":"research"})");
  EXPECT_EQ(lowered.status, 200) << lowered.body;
  EXPECT_EQ(server_.CallJson("GET", "/v1/models/m", "", mia_)["level"], "research");

  // Nobody approves their own request: not a reviewer, and another reviewer may.
  std::string own = Submit(rita_, Level::kApi);
  auto self = Approve(rita_, own);
  EXPECT_EQ(self.status, 403) << self.body;
  EXPECT_EQ(Code(self), "self_grant");
  EXPECT_EQ(Approve(rob_, own).status, 200);

  // An owner approves anything someone else asked for.
  std::string other = Submit(rob_, Level::kOpen);
  auto by_owner = Approve(server_.owner_key(), other);
  EXPECT_EQ(by_owner.status, 200) << by_owner.body;
}

class LowerReviewerLimitTest : public SeparationOfDutiesTest {
 protected:
  static Config WithLimit() {
    Config c = DefaultConfig();
    c.reviewer_grant_limit = Level::kApi;
    return c;
  }
  LowerReviewerLimitTest() : SeparationOfDutiesTest(WithLimit()) {}
};

TEST_F(LowerReviewerLimitTest, TheLimitComesFromTheLevelSettings) {
  EXPECT_EQ(Grant(rita_, mia_id_, Level::kApi).status, 201);
  auto research = Grant(rita_, mia_id_, Level::kResearch);
  EXPECT_EQ(research.status, 403) << research.body;
  EXPECT_EQ(Code(research), "reviewer_grant_limit");
  EXPECT_EQ(Grant(server_.owner_key(), mia_id_, Level::kResearch).status, 201);
}

}  // namespace
}  // namespace aperture::testing
