// The research API over loopback on the real tiny model: the access matrix
// of the research routes (every level x every route), scope refusals naming
// the site or limit, per grant and per level, rate and daily limits,
// receipts whose inclusion proofs verify with the project's verifier and
// whose log entries hold no tensor or text, safetensors answers, and
// steering in chat (streamed too).
#include <gtest/gtest.h>

#include <cstring>

#include "core/base64.h"
#include "core/hash.h"
#include "fmt/format.h"
#include "research/result_format.h"
#include "tests/integration/test_server.h"
#include "translog/checkpoint.h"
#include "translog/entry.h"
#include "translog/log_verifier.h"
#include "translog/merkle.h"
#include "translog/note.h"

namespace aperture::testing {
namespace {

Config Unlimited() {
  Config c = DefaultConfig();
  c.anonymous_requests_per_minute = 0;
  c.principal_requests_per_minute = 0;
  for (Level l : kAllLevels) c.levels[static_cast<int>(l)].requests_per_minute = 0;
  return c;
}

const char* kRun = R"({"model":"%s","input":"Once upon a time","capture":["blocks.*.hook_resid_post"],
    "return":{"top_k":3}})";
const char* kIntervene = R"({"model":"%s","input":"Once upon a time","return":{"top_k":3},
    "interventions":[{"hook":"blocks.0.attn.hook_z","op":"zero","heads":[1]}]})";
const char* kPatch = R"({"model":"%s","clean":[1,403,407,261,378],"corrupted":[1,403,407,261,60],
    "sites":["blocks.*.hook_resid_pre"],"metric":{"logprob":5}})";
const char* kDirections = R"({"model":"%s","hook":"blocks.2.hook_resid_post","positive":["happy","glad"],
    "negative":["sad","angry"]})";

std::string For(const char* body, const std::string& model) {
  std::string out = body;
  out.replace(out.find("%s"), 2, model);
  return out;
}

struct RouteCase {
  const char* name;
  const char* path;
  const char* body;
  std::vector<Capability> needs;
};
const RouteCase kRoutes[] = {
    {"run (read)", "/v1/research/run", kRun, {Capability::kInspect}},
    {"run (intervene)", "/v1/research/run", kIntervene, {Capability::kInspect, Capability::kIntervene}},
    {"patch", "/v1/research/patch", kPatch, {Capability::kInspect, Capability::kIntervene}},
    {"directions", "/v1/research/directions", kDirections, {Capability::kInspect}},
    {"chat with interventions",
     "/v1/chat/completions",
     R"({"model":"%s","messages":[{"role":"user","content":"hi"}],"max_tokens":3,
         "interventions":[{"hook":"blocks.1.hook_resid_post","op":"scale","scale":0.5}]})",
     {Capability::kChat, Capability::kIntervene}},
};

// Every level x every research route, for anonymous callers (the public
// level) and principals (a grant): exactly the cells the level allows
// succeed; hosted and api callers get the ordinary level refusal.
TEST(ResearchApiTest, AccessMatrixOfTheResearchRoutes) {
  const Config config = Unlimited();
  TestServer server(config);
  server.AddPrincipal("member", Role::kMember);
  const std::string key = server.CreateKey("member");
  for (Level level : kAllLevels) {
    server.AddModel(fmt::format("p_{}", LevelName(level)), level);
    const std::string granted = fmt::format("g_{}", LevelName(level));
    server.AddModel(granted, Level::kClosed);
    ASSERT_TRUE(server.services()
                    .access->GrantAccess(AccessService::Operator(), "member", granted, level, std::nullopt, "matrix")
                    .ok());
  }
  int cells = 0;
  for (Level level : kAllLevels) {
    for (const RouteCase& route : kRoutes) {
      for (bool anonymous : {true, false}) {
        const std::string model = fmt::format("{}_{}", anonymous ? "p" : "g", LevelName(level));
        Level effective = anonymous ? (level >= Level::kHosted ? level : Level::kClosed) : level;
        bool allowed = true;
        for (Capability c : route.needs) allowed = allowed && config.Limits(effective).Allows(c);
        const int expected = effective == Level::kClosed ? 404 : allowed ? 200 : 403;
        auto r = server.Call("POST", route.path, For(route.body, model), anonymous ? "" : key);
        ++cells;
        EXPECT_EQ(r.status, expected) << route.name << " at " << LevelName(level)
                                      << (anonymous ? " (public)" : " (grant)") << ": " << r.body.substr(0, 300);
        if (expected == 403) {
          EXPECT_NE(r.body.find("needs level 'research'"), std::string::npos) << r.body;
        }
        if (expected == 200 && std::string_view(route.path).starts_with("/v1/research/")) {
          auto body = ParseJson(r.body);
          ASSERT_TRUE(body.ok()) << r.body.substr(0, 300);
          EXPECT_TRUE(body->contains("receipt")) << r.body.substr(0, 300);
        }
      }
    }
  }
  EXPECT_EQ(cells, 7 * 5 * 2);
}

class ResearchScopeTest : public ::testing::Test {
 protected:
  static Config Scoped() {
    Config c = Unlimited();
    ResearchScope& r = c.levels[static_cast<int>(Level::kResearch)].research;
    r.inspect_sites = {"blocks.*.hook_resid_post", "blocks.*.hook_resid_pre", "blocks.*.attn.hook_z"};
    r.intervene_sites = {"blocks.*.hook_resid_pre", "blocks.*.hook_resid_post", "blocks.*.attn.hook_z"};
    r.max_tokens = 400;
    r.requests_per_day = 6;
    return c;
  }
  ResearchScopeTest() : server_(Scoped()) {
    server_.AddModel("tiny", Level::kHosted);
    server_.AddPrincipal("rita", Role::kMember);
    server_.AddPrincipal("nell", Role::kMember);
    rita_ = server_.CreateKey("rita");
    nell_ = server_.CreateKey("nell");
    const Caller op = AccessService::Operator();
    EXPECT_TRUE(server_.services().access->GrantAccess(op, "rita", "tiny", Level::kResearch, std::nullopt, "t").ok());
    // Nell's grant narrows the level's scope: layer 0's residual only, 100 tokens.
    auto g = server_.services().access->GrantAccess(
        op, "nell", "tiny", Level::kResearch, std::nullopt, "t",
        R"({"inspect_sites":["blocks.0.hook_resid_post"],"intervene_sites":[],"research_max_tokens":100})");
    EXPECT_TRUE(g.ok()) << g.status();
    nell_grant_ = g.ok() ? g->id : "";
  }
  TestServer server_;
  std::string rita_, nell_, nell_grant_;
};

TEST_F(ResearchScopeTest, RefusalsNameTheSiteOrLimitAndTheScopeThatAllowsIt) {
  auto ok =
      server_.Call("POST", "/v1/research/run",
                   R"({"model":"tiny","input":"Once upon a time","capture":["blocks.1.hook_resid_post"]})", rita_);
  EXPECT_EQ(ok.status, 200) << ok.body;
  // A site outside the level's inspect_sites: 403 naming it and the level that allows it.
  auto r =
      server_.Call("POST", "/v1/research/run",
                   R"({"model":"tiny","input":"Once upon a time","capture":["blocks.1.attn.hook_pattern"]})", rita_);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("reads 'blocks.1.attn.hook_pattern'"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("level 'download' allows it"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("research_scope_site"), std::string::npos) << r.body;
  // Writing a site outside intervene_sites.
  r = server_.Call("POST", "/v1/research/run", R"({"model":"tiny","input":"Once","return":{"top_k":2},
      "interventions":[{"hook":"blocks.0.mlp.hook_post","op":"zero"}]})",
                   rita_);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("writes 'blocks.0.mlp.hook_post'"), std::string::npos) << r.body;
  // The logit lens reads every hook_resid_post: within this scope.
  r = server_.Call("POST", "/v1/research/run", R"({"model":"tiny","input":"Once","return":{"logit_lens":{"top_k":2}}})",
                   rita_);
  EXPECT_EQ(r.status, 200) << r.body;
  // The grant narrows: layer 1 is outside Nell's scope, and she may write nothing.
  r = server_.Call("POST", "/v1/research/run",
                   R"({"model":"tiny","input":"Once upon a time","capture":["blocks.1.hook_resid_post"]})", nell_);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find(fmt::format("narrowed by grant {}", nell_grant_)), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("a grant whose inspect_sites include it"), std::string::npos) << r.body;
  r = server_.Call("POST", "/v1/research/patch",
                   R"({"model":"tiny","clean":[1,403,407,261,378],"corrupted":[1,403,407,261,60],
                       "sites":"blocks.0.hook_resid_pre","metric":{"logprob":5}})",
                   nell_);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("blocks.0.hook_resid_pre"), std::string::npos) << r.body;
  // Tokens per request: the level's 400 for Rita, the grant's 100 for Nell.
  std::string long_input = "[1";
  for (int i = 0; i < 150; ++i) long_input += ",400";
  long_input += "]";
  r = server_.Call("POST", "/v1/research/run",
                   fmt::format(R"({{"model":"tiny","input":{},"capture":["blocks.0.hook_resid_post"]}})", long_input),
                   nell_);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("research_max_tokens on 'tiny' is 100 for grant"), std::string::npos) << r.body;
  r = server_.Call("POST", "/v1/research/run", fmt::format(R"({{"model":"tiny","inputs":[{0},{0},{0}]}})", long_input),
                   rita_);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("research_max_tokens on 'tiny' is 400 for level 'research'"), std::string::npos) << r.body;
  // Chat steering at research level is checked against intervene_sites too.
  r = server_.Call("POST", "/v1/chat/completions", R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],
      "max_tokens":2,"interventions":[{"hook":"blocks.0.ln1.hook_scale","op":"scale","scale":2}]})",
                   rita_);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(r.body.find("writes 'blocks.0.ln1.hook_scale'"), std::string::npos) << r.body;
  // Requests per day: 6 in all for Rita today (two counted above), then 429 until tomorrow.
  int admitted = 2;
  for (; admitted < 10; ++admitted) {
    r = server_.Call("POST", "/v1/research/run", R"({"model":"tiny","input":"Once","return":{"top_k":1}})", rita_);
    if (r.status != 200) break;
  }
  EXPECT_EQ(admitted, 6);
  EXPECT_EQ(r.status, 429);
  EXPECT_NE(r.body.find("research_requests_per_day of 6"), std::string::npos) << r.body;
  EXPECT_TRUE(r.Header("retry-after").has_value());
  server_.clock().AdvanceSeconds(86400);
  r = server_.Call("POST", "/v1/research/run", R"({"model":"tiny","input":"Once","return":{"top_k":1}})", rita_);
  EXPECT_EQ(r.status, 200) << r.body;
  // The day's count survives a restart: it starts from the store's usage.
  server_.Restart();
  int more = 0;
  for (; more < 10; ++more) {
    r = server_.Call("POST", "/v1/research/run", R"({"model":"tiny","input":"Once","return":{"top_k":1}})", rita_);
    if (r.status != 200) break;
  }
  EXPECT_EQ(more, 5);
  EXPECT_EQ(r.status, 429);
  Json usage = server_.CallJson("GET", "/v1/usage", "", rita_);
  ASSERT_EQ(usage["data"].size(), 1u) << usage.dump();
  EXPECT_EQ(usage["data"][0]["research_requests"], 6);
}

TEST_F(ResearchScopeTest, MalformedResearchRequestsAre400WithTheField) {
  struct Case {
    const char* path;
    const char* body;
    const char* param;
  };
  for (const Case& c :
       {Case{"/v1/research/run", R"({"model":"tiny","input":"x","capture":["blocks.9.hook_resid_post"]})",
             "capture[0]"},
        Case{"/v1/research/run", R"({"model":"tiny","input":"x","interventions":[{"hook":"hook_embed","op":"add",
            "vector":[1,2]}]})",
             "interventions[0].vector"},
        Case{"/v1/research/run", R"({"model":"tiny","input":"x","return":{"top_k":"ten"}})", "return.top_k"},
        Case{"/v1/research/patch", R"({"model":"tiny","clean":"a b","corrupted":"a","sites":"hook_embed",
            "metric":{"logprob":1}})",
             "corrupted"},
        Case{"/v1/research/directions", R"({"model":"tiny","hook":"blocks.*.hook_z","positive":["a"],
            "negative":["b"]})",
             "hook"}}) {
    auto r = server_.Call("POST", c.path, c.body, rita_);
    EXPECT_EQ(r.status, 400) << c.body << ": " << r.body;
    auto body = ParseJson(r.body);
    ASSERT_TRUE(body.ok());
    EXPECT_EQ((*body)["error"]["param"], c.param) << r.body;
  }
}

std::vector<translog::Hash> Hashes(const Json& list) {
  std::vector<translog::Hash> out;
  for (const Json& h : list) out.push_back(*translog::HashFromBytes(*Base64Decode(h.get<std::string>())));
  return out;
}

// A receipt's inclusion proof verifies against the signed checkpoint with
// the project's verifier, and the entry it proves holds the commitments of
// this request and result, never a tensor or the input text.
TEST(ResearchApiTest, ReceiptsVerifyAndTheEntryHoldsNoContent) {
  TestServer server(Unlimited());
  server.AddModel("tiny", Level::kResearch);
  const std::string body = R"({"model":"tiny","input":"The secret word is pineapple",
      "capture":[{"hook":"blocks.1.attn.hook_attn_scores","heads":[0]},"blocks.0.hook_resid_post"],
      "return":{"top_k":5,"logit_lens":{"top_k":2,"positions":[-1]}}})";
  auto r = server.Call("POST", "/v1/research/run", body);
  ASSERT_EQ(r.status, 200) << r.body;
  auto answer = ParseJson(r.body);
  ASSERT_TRUE(answer.ok());
  const Json& receipt = (*answer)["receipt"];
  ASSERT_TRUE(receipt.contains("log_index")) << r.body.substr(0, 500);
  // Masked scores are null in JSON; shapes are TransformerLens's.
  const Json& scores = (*answer)["captures"]["blocks.1.attn.hook_attn_scores"];
  ASSERT_EQ(scores.size(), 1u);
  EXPECT_TRUE(scores[0][0][1].is_null());
  EXPECT_TRUE(scores[0][1][0].is_number());
  // Each input token's text beside its id (to_str_tokens): together, the input.
  const Json& pieces = (*answer)["str_tokens"];
  ASSERT_EQ(pieces.size(), (*answer)["tokens"].size());
  std::string joined;
  for (const Json& p : pieces) joined += p.get<std::string>();
  EXPECT_NE(joined.find("secret word is pineapple"), std::string::npos) << joined;

  // The proof, against the checkpoint signed with the published key.
  auto key = translog::NoteVerifier::Parse(
      server.Call("GET", "/log/key").body.substr(0, server.Call("GET", "/log/key").body.find_last_not_of("\n ") + 1));
  ASSERT_TRUE(key.ok()) << key.status();
  auto cp = translog::OpenCheckpoint(server.Call("GET", "/log/checkpoint").body, *key);
  ASSERT_TRUE(cp.ok()) << cp.status();
  const int64_t index = receipt["log_index"];
  Json proof = server.CallJson("GET", fmt::format("/log/proof/inclusion?index={}&size={}", index, cp->size));
  auto leaf = translog::HashFromBytes(*Base64Decode(receipt["leaf_hash"].get<std::string>()));
  ASSERT_TRUE(leaf.ok());
  EXPECT_TRUE(translog::VerifyInclusion(index, cp->size, *leaf, Hashes(proof["proof"]), cp->root).ok());

  // The entry: its leaf hash is the receipt's, and it commits to this request and result.
  Json entries = server.CallJson("GET", fmt::format("/log/entries?start={}&end={}", index, index + 1));
  ASSERT_EQ(entries["entries"].size(), 1u) << entries.dump();
  const std::string entry = entries["entries"][0]["entry"];
  EXPECT_EQ(translog::LeafHash(entry), *leaf);
  auto event = translog::EventFromEntry(entry);
  ASSERT_TRUE(event.ok());
  EXPECT_EQ(event->type, "research.run");
  EXPECT_EQ(event->level, "research");
  auto details = ParseJson(event->details);
  ASSERT_TRUE(details.ok());
  EXPECT_EQ((*details)["request_sha256"], Sha256Hex(body));
  EXPECT_EQ((*details)["result_sha256"], receipt["result_sha256"]);
  EXPECT_EQ((*details)["result_sha256"], *research::ResponseCommitment(*answer));
  EXPECT_EQ((*details)["model_sha256"].get<std::string>().size(), 64u);
  EXPECT_EQ((*details)["engine"], "aperture-engine/1");
  EXPECT_EQ((*details)["id"], (*answer)["id"]);
  EXPECT_GT((*details)["forward_tokens"].get<int64_t>(), 0);
  EXPECT_NE((*details)["sites_read"].dump().find("blocks.0.hook_resid_post"), std::string::npos);
  // No content: not the text, no floats, no token lists.
  EXPECT_EQ(entry.find("pineapple"), std::string::npos) << entry;
  for (auto it = details->begin(); it != details->end(); ++it) {
    EXPECT_FALSE(it.value().is_number_float()) << it.key();
    if (it.value().is_array()) {
      for (const Json& x : it.value()) EXPECT_TRUE(x.is_string()) << it.key();
    }
  }
  EXPECT_LT(entry.size(), 2000u);
  // A changed answer no longer matches the commitment.
  Json tampered = *answer;
  tampered["captures"]["blocks.0.hook_resid_post"][0][0] = 1e9;
  EXPECT_NE(*research::ResponseCommitment(tampered), (*details)["result_sha256"]);
}

// safetensors: tensors by site (in order, with shapes and F32), the other
// fields and the receipt in the header's metadata.
TEST(ResearchApiTest, SafetensorsAnswersCarryTensorsAndTheReceipt) {
  TestServer server(Unlimited());
  server.AddModel("tiny", Level::kResearch);
  auto r = server.Call("POST", "/v1/research/run",
                       R"({"model":"tiny","inputs":["Once upon a time","The cat"],"capture":["blocks.0.attn.hook_z",
                           {"hook":"blocks.1.hook_resid_post","reduce":"mean"}]})",
                       "", {"Accept: application/octet-stream"});
  ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
  EXPECT_EQ(r.Header("content-type").value_or(""), "application/octet-stream");
  ASSERT_GT(r.body.size(), 8u);
  uint64_t n = 0;
  std::memcpy(&n, r.body.data(), 8);
  ASSERT_LE(8 + n, r.body.size());
  auto header = ParseJson(r.body.substr(8, n));
  ASSERT_TRUE(header.ok()) << header.status();
  auto meta = ParseJson((*header)["__metadata__"]["aperture"].get<std::string>());
  ASSERT_TRUE(meta.ok());
  EXPECT_TRUE((*meta).contains("receipt"));
  EXPECT_EQ((*meta)["results"].size(), 2u);
  const Json& z = (*header)["0/blocks.0.attn.hook_z"];
  EXPECT_EQ(z["dtype"], "F32");
  ASSERT_EQ(z["shape"].size(), 3u);  // [pos, head, d_head]
  const Json& mean = (*header)["1/blocks.1.hook_resid_post"];
  ASSERT_EQ(mean["shape"].size(), 1u);  // [d_model]
  const uint64_t end = mean["data_offsets"][1];
  EXPECT_EQ(8 + n + end, r.body.size());
  // JSON is refused past its size, naming format.
  std::string ids = "[1";
  for (int i = 0; i < 1000; ++i) ids += ",300";
  ids += "]";
  auto big =
      server.Call("POST", "/v1/research/run", fmt::format(R"({{"model":"tiny","input":{},"capture":["*"]}})", ids));
  EXPECT_EQ(big.status, 400) << big.body.substr(0, 300);
  EXPECT_NE(big.body.find("safetensors"), std::string::npos);
}

// Steering in chat: the same interventions as `run`, streamed or whole,
// logged with what they wrote; api callers are refused the ordinary way.
TEST(ResearchApiTest, ChatWithInterventionsStreamsSteeredText) {
  TestServer server(Unlimited());
  server.AddModel("tiny", Level::kApi);
  server.AddPrincipal("rita", Role::kMember);
  const std::string rita = server.CreateKey("rita");
  ASSERT_TRUE(server.services()
                  .access->GrantAccess(AccessService::Operator(), "rita", "tiny", Level::kResearch, std::nullopt, "t")
                  .ok());
  const std::string base = R"({"model":"tiny","messages":[{"role":"user","content":"Once upon a time"}],
      "temperature":0,"max_tokens":12)";
  const std::string steer = R"(,"interventions":[{"hook":"blocks.2.hook_resid_post","op":"scale","scale":-3}])";
  Json plain = server.CallJson("POST", "/v1/chat/completions", base + "}", rita);
  Json steered = server.CallJson("POST", "/v1/chat/completions", base + steer + "}", rita);
  ASSERT_TRUE(steered.contains("choices")) << steered.dump();
  const std::string a = plain["choices"][0]["message"]["content"], b = steered["choices"][0]["message"]["content"];
  EXPECT_NE(a, b);
  auto streamed = server.Call("POST", "/v1/chat/completions", base + steer + R"(,"stream":true})", rita);
  ASSERT_EQ(streamed.status, 200);
  std::string text;
  for (size_t pos = 0; (pos = streamed.body.find("data: {", pos)) != std::string::npos; ++pos) {
    auto chunk = ParseJson(streamed.body.substr(pos + 6, streamed.body.find("\n\n", pos) - pos - 6));
    if (chunk.ok() && (*chunk)["choices"][0]["delta"].contains("content")) {
      text += (*chunk)["choices"][0]["delta"]["content"].get<std::string>();
    }
  }
  EXPECT_EQ(text, b);
  // Anonymous callers hold api here: no intervene.
  auto refused = server.Call("POST", "/v1/chat/completions", base + steer + "}");
  EXPECT_EQ(refused.status, 403);
  EXPECT_NE(refused.body.find("'intervene'"), std::string::npos) << refused.body;
  // The completion's log entry says what was written.
  server.services().recorder->Flush();
  auto head = server.services().log->Head();
  auto entries = server.services().log->Entries(0, head->size);
  bool found = false;
  for (const std::string& e : *entries) {
    auto ev = translog::EventFromEntry(e);
    if (ev->type == "completion" && ev->details.find("interventions") != std::string::npos) {
      found = true;
      EXPECT_NE(ev->details.find("blocks.2.hook_resid_post"), std::string::npos);
      EXPECT_NE(ev->details.find("\"scale\""), std::string::npos);
    }
  }
  EXPECT_TRUE(found);
}

// An engine failure during a research job is answered with its own status
// (the status line waits for the job) and logged as an error; the server
// serves the next request.
TEST(ResearchApiTest, AnEngineFailureIsAnsweredAsAFailureAndLogged) {
  TestServer server(Unlimited());
  server.AddModel("tiny", Level::kResearch);
  const std::string run = R"({"model":"tiny","input":"Once upon a time","capture":["blocks.0.hook_resid_post"]})";
  const std::string sweep = R"({"model":"tiny","clean":[1,403,407],"corrupted":[1,403,60],
      "sites":"blocks.*.hook_resid_pre","metric":{"logprob":5}})";
  for (const auto& [path, body] : {std::pair{"/v1/research/run", run}, std::pair{"/v1/research/patch", sweep}}) {
    server.SetEngineFault(absl::InternalError("injected: the forward pass failed"));
    auto r = server.Call("POST", path, body);
    server.SetEngineFault(absl::OkStatus());
    EXPECT_EQ(r.status, 500) << path << ": " << r.body;
    EXPECT_NE(r.body.find("engine_error"), std::string::npos) << r.body;
    EXPECT_EQ(r.body.find("injected"), std::string::npos) << "internal details leaked: " << r.body;
    EXPECT_EQ(server.Call("POST", path, body).status, 200) << path;
  }
  server.services().recorder->Flush();
  auto head = server.services().log->Head();
  auto entries = server.services().log->Entries(0, head->size);
  int failed = 0, ok = 0;
  for (const std::string& e : *entries) {
    auto ev = translog::EventFromEntry(e);
    if (ev->type != "research.run" && ev->type != "research.patch") continue;
    (ev->outcome == "error" ? failed : ok) += 1;
    if (ev->outcome == "error") {
      EXPECT_EQ(ev->reason, "engine_error");
      EXPECT_NE(ev->details.find("INTERNAL"), std::string::npos) << ev->details;
      EXPECT_EQ(ev->details.find("result_sha256"), std::string::npos) << ev->details;
    }
  }
  EXPECT_EQ(failed, 2);
  EXPECT_EQ(ok, 2);
}

}  // namespace
}  // namespace aperture::testing
