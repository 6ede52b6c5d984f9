#include "filters/engine/engine_filter.h"

#include <gtest/gtest.h>

namespace aperture {
namespace {

// A request that authz allowed on `model`, asking for `caps`.
struct Allowed {
  Allowed(const std::string& path, std::vector<Capability> caps) : ctx(request) {
    Decision d;
    d.outcome = Outcome::kAllow;
    d.status = 200;
    d.model = Model{"m", path, Level::kOpen, "[]", 1};
    ctx.decision = d;
    ctx.model_id = "m";
    ctx.capabilities = std::move(caps);
  }
  http::Request request;
  RequestContext ctx;
};

TEST(EngineFilterTest, ARemoteOnlyModelRefusesWhatNeedsTheEngineWith501) {
  EngineFilter filter;
  for (Capability c : {Capability::kInspect, Capability::kIntervene, Capability::kEvaluate, Capability::kFinetune,
                       Capability::kEmbed, Capability::kDownload}) {
    Allowed a("", {Capability::kChat, c});
    auto answer = filter.Apply(a.ctx);
    ASSERT_TRUE(answer.has_value()) << CapabilityName(c);
    EXPECT_EQ(answer->status, 501);
    EXPECT_NE(answer->body.find("embedded engine"), std::string::npos) << answer->body;
    EXPECT_NE(answer->body.find(std::string(CapabilityName(c))), std::string::npos) << answer->body;
    EXPECT_EQ(a.ctx.outcome, "deny");
    EXPECT_EQ(a.ctx.reason, "needs_embedded_engine");
  }
  // What remote backends serve passes; so does everything on a model with a file.
  Allowed chat("", {Capability::kChat, Capability::kLogprobs});
  EXPECT_FALSE(filter.Apply(chat.ctx).has_value());
  Allowed local("/m.gguf", {Capability::kInspect});
  EXPECT_FALSE(filter.Apply(local.ctx).has_value());
}

}  // namespace
}  // namespace aperture
