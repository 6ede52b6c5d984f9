// An engine failure on every serving route is reported as a failure, never
// as success: its own status code (the status line waits for the engine),
// an error in the route's log entry, and a server that goes on serving once
// the engine recovers. The failure is injected where the scheduler calls
// the engine (SchedulerOptions::engine_fault).
#include <gtest/gtest.h>

#include "tests/integration/test_server.h"
#include "translog/entry.h"

namespace aperture::testing {
namespace {

class EngineFailureTest : public ::testing::Test {
 protected:
  EngineFailureTest() {
    server_.AddModel("tiny", Level::kHosted);
    server_.AddPrincipal("dev", Role::kMember);
    dev_ = server_.CreateKey("dev");
    EXPECT_TRUE(server_.services()
                    .access->GrantAccess(AccessService::Operator(), "dev", "tiny", Level::kApi, std::nullopt, "t")
                    .ok());
  }

  // The log entries of `type`, oldest first.
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

  // The access.decision entry of the request that got `response`.
  Json DecisionOf(const http::TestResponse& response) {
    const std::string id = response.Header("x-request-id").value_or("");
    EXPECT_FALSE(id.empty());
    for (const LogEvent& e : Logged("access.decision")) {
      Json details = *ParseJson(e.details);
      if (details.value("request_id", "") == id) return details;
    }
    ADD_FAILURE() << "no access.decision entry for request " << id;
    return Json();
  }

  void ExpectEngineFailure(const std::string& path, const std::string& body, const std::string& event_type) {
    SCOPED_TRACE(path + " " + body);
    const size_t before = Logged(event_type).size();
    server_.SetEngineFault(absl::InternalError("injected: the forward pass failed"));
    auto r = server_.Call("POST", path, body, dev_);
    server_.SetEngineFault(absl::OkStatus());
    EXPECT_EQ(r.status, 500) << r.body;
    auto error = ParseJson(r.body);
    ASSERT_TRUE(error.ok()) << r.body;
    EXPECT_EQ((*error)["error"]["code"], "engine_error") << r.body;
    EXPECT_EQ(r.body.find("injected"), std::string::npos) << "internal details leaked: " << r.body;
    EXPECT_EQ(r.body.find("finish_reason"), std::string::npos) << r.body;
    // The route's own entry says the engine failed...
    auto entries = Logged(event_type);
    ASSERT_EQ(entries.size(), before + 1);
    EXPECT_EQ(entries.back().outcome, "error");
    EXPECT_EQ(entries.back().reason, "engine_error");
    // ...and the access decision carries the status the caller got.
    EXPECT_EQ(DecisionOf(r)["status"], 500);

    // The engine recovered: the same request succeeds.
    auto ok = server_.Call("POST", path, body, dev_);
    EXPECT_EQ(ok.status, 200) << ok.body;
    EXPECT_EQ(Logged(event_type).back().outcome, "ok");
  }

  TestServer server_;
  std::string dev_;
};

TEST_F(EngineFailureTest, ChatCompletion) {
  ExpectEngineFailure("/v1/chat/completions",
                      R"({"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":4})", "completion");
}

TEST_F(EngineFailureTest, StreamedChatCompletion) {
  ExpectEngineFailure("/v1/chat/completions",
                      R"({"model":"tiny","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"stream":true})",
                      "completion");
}

TEST_F(EngineFailureTest, Completion) {
  ExpectEngineFailure("/v1/completions", R"({"model":"tiny","prompt":"Once upon","max_tokens":4})", "completion");
}

TEST_F(EngineFailureTest, StreamedCompletion) {
  ExpectEngineFailure("/v1/completions", R"({"model":"tiny","prompt":"Once upon","max_tokens":4,"stream":true})",
                      "completion");
}

TEST_F(EngineFailureTest, Embeddings) {
  ExpectEngineFailure("/v1/embeddings", R"({"model":"tiny","input":["a cat","a dog"]})", "embedding");
}

}  // namespace
}  // namespace aperture::testing
