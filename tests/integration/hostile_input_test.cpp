// Malformed and hostile input gets a clear 4xx or a closed connection, and the
// server keeps serving everyone else.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/test_server.h"
#include "translog/entry.h"

namespace aperture::testing {
namespace {

Config SmallLimits() {
  Config c = DefaultConfig();
  c.server.max_body_bytes = 64 * 1024;
  c.server.max_header_bytes = 8 * 1024;
  c.server.header_timeout_ms = 300;
  c.server.body_timeout_ms = 300;
  return c;
}

class HostileInputTest : public ::testing::Test {
 protected:
  HostileInputTest() : server_(SmallLimits()) {
    server_.AddModel("m", Level::kApi);
    server_.AddPrincipal("alice", Role::kMember);
    key_ = server_.CreateKey("alice");
  }
  void ExpectStillServing() {
    auto r = server_.Call("GET", "/v1/models", "", key_);
    EXPECT_EQ(r.status, 200) << r.body;
  }
  Json Error(const http::TestResponse& r) {
    auto j = ParseJson(r.body);
    return j.ok() && j->contains("error") ? (*j)["error"] : Json();
  }
  TestServer server_;
  std::string key_;
};

TEST_F(HostileInputTest, MalformedJson) {
  for (const char* body : {"{", "{\"model\": }", "[1,2", "\"just a string\"", "nul", "{\"model\":\"m\"} trailing"}) {
    auto r = server_.Call("POST", "/v1/completions", body, key_);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_EQ(Error(r)["type"], "invalid_request_error") << r.body;
  }
  ExpectStillServing();
}

TEST_F(HostileInputTest, WrongTypesNameTheParam) {
  auto r = server_.Call("POST", "/v1/completions", R"({"model": 5, "prompt": "x"})", key_);
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r)["param"], "model");
  r = server_.Call("POST", "/v1/admin/grants", R"({"principal":"alice","model":"m","level":"galaxy","reason":"x"})",
                   server_.owner_key());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r)["param"], "level");
  r = server_.Call("POST", "/v1/admin/keys", R"({"principal":"alice","expires_in":"soon"})", server_.owner_key());
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(Error(r)["param"], "expires_in");
  ExpectStillServing();
}

TEST_F(HostileInputTest, DeeplyNestedJson) {
  std::string deep = "{\"model\":\"m\",\"x\":" + std::string(10000, '[') + std::string(10000, ']') + "}";
  auto r = server_.Call("POST", "/v1/completions", deep, key_);
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("nested"), std::string::npos);
  ExpectStillServing();
}

TEST_F(HostileInputTest, BodyOverTheLimit) {
  std::string big = "{\"model\":\"m\",\"prompt\":\"" + std::string(100 * 1024, 'a') + "\"}";
  auto client = http::TestClient::Connect(server_.port());
  ASSERT_TRUE(client);
  client->SendRequest("POST", "/v1/completions", big, {"Authorization: Bearer " + key_});
  auto r = client->ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 413);
  // The transport's own answers are recorded like the chain's, and say so.
  const std::string id = r->Header("x-request-id").value_or("");
  ASSERT_FALSE(id.empty());
  server_.services().recorder->Flush();
  auto head = server_.services().log->Head();
  ASSERT_TRUE(head.ok());
  auto entries = server_.services().log->Entries(0, head->size);
  ASSERT_TRUE(entries.ok());
  bool recorded = false;
  for (const std::string& entry : *entries) {
    auto e = translog::EventFromEntry(entry);
    if (!e.ok() || e->type != "access.decision") continue;
    Json details = *ParseJson(e->details);
    if (details.value("request_id", "") != id) continue;
    recorded = details["route"] == "transport" && details["status"] == 413 && e->reason == "body_too_large";
  }
  EXPECT_TRUE(recorded);
  ExpectStillServing();
}

TEST_F(HostileInputTest, HeaderOverTheLimit) {
  auto client = http::TestClient::Connect(server_.port());
  ASSERT_TRUE(client);
  client->SendRequest("GET", "/v1/models", "", {"X-Filler: " + std::string(20 * 1024, 'b')});
  auto r = client->ReadResponse();
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->status, 431);
  ExpectStillServing();
}

TEST_F(HostileInputTest, SlowClientIsCutOffWhileOthersAreServed) {
  auto slow = http::TestClient::Connect(server_.port());
  ASSERT_TRUE(slow);
  ASSERT_TRUE(slow->Send("GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: "));
  ExpectStillServing();  // served while the slow client dawdles
  EXPECT_TRUE(slow->WaitForClose(std::chrono::seconds(5)));
  ExpectStillServing();
}

// Slowloris: 200 connections dribble their headers a byte at a time, well
// within any per-byte timer; the header deadline (300 ms here) cuts every
// one off, and a normal request is answered meanwhile and afterwards.
TEST_F(HostileInputTest, TwoHundredDribblingConnectionsAreCutOffWhileOthersAreServed) {
  constexpr int kDribblers = 200;
  const std::string request = "GET /v1/models HTTP/1.1\r\nHost: h\r\nX-Slow: " + std::string(200, 'a');
  std::vector<std::unique_ptr<http::TestClient>> dribblers;
  for (int i = 0; i < kDribblers; ++i) {
    dribblers.push_back(http::TestClient::Connect(server_.port()));
    ASSERT_TRUE(dribblers.back()) << i;
  }
  // A byte from each every 20 ms for 2 s (the whole header would take 4 s),
  // until it is answered.
  const auto start = std::chrono::steady_clock::now();
  std::vector<bool> answered(kDribblers, false), broken(kDribblers, false);
  for (size_t pos = 0; std::chrono::steady_clock::now() - start < std::chrono::seconds(2); ++pos) {
    for (int i = 0; i < kDribblers; ++i) {
      if (answered[i] || broken[i]) continue;
      if (dribblers[i]->ReadUntil("408", std::chrono::milliseconds(0))) {
        answered[i] = true;
      } else if (!dribblers[i]->Send(request.substr(pos % request.size(), 1))) {
        broken[i] = true;
      }
    }
    if (pos == 10) ExpectStillServing();  // while all 200 are dribbling
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  // Every dribbler was answered 408 at its deadline though it never stopped
  // sending, and then closed.
  for (int i = 0; i < kDribblers; ++i) {
    EXPECT_TRUE(answered[i]) << i << (broken[i] ? ": closed without its 408" : ": still open");
    EXPECT_TRUE(dribblers[i]->WaitForClose(std::chrono::seconds(5))) << i;
  }
  ExpectStillServing();
}

TEST_F(HostileInputTest, DuplicateAuthorizationIsRefused) {
  auto r = server_.Call("GET", "/v1/models", "", key_, {"Authorization: Bearer " + server_.owner_key()});
  EXPECT_EQ(r.status, 400);
  ExpectStillServing();
}

// Bytes that are not UTF-8 wherever a caller can put them: a clear 400 (404
// for a route or model that does not exist) with a valid JSON body, never a
// 500 and never a dead process; a normal request succeeds afterwards.
TEST_F(HostileInputTest, BytesThatAreNotUtf8AreRefusedEverywhere) {
  const std::string bad = "\xff\xfe";
  auto get = [](const std::string& target, const std::string& extra_headers = "") {
    return "GET " + target + " HTTP/1.1\r\nHost: h\r\n" + extra_headers + "\r\n";
  };
  auto post = [&](const std::string& path, const std::string& body) {
    return "POST " + path + " HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer " + key_ +
           "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  };
  struct Case {
    std::string name;
    std::string bytes;
    int status;
  };
  std::vector<Case> cases = {
      {"raw bytes in the target", get("/v1/models/" + bad), 400},
      {"raw bytes in an unknown route", get("/nowhere/" + bad), 400},
      {"escaped bytes naming a model", get("/v1/models/%FF%FE"), 404},
      {"escaped bytes in an unknown route", get("/nowhere/%FF"), 404},
      {"a query value", get("/v1/usage?date=%FF%FE", "Authorization: Bearer " + key_ + "\r\n"), 400},
      {"a query name", get("/v1/models?%FF=1"), 400},
      {"the Host header", "GET /v1/models HTTP/1.1\r\nHost: " + bad + "\r\n\r\n", 400},
      {"a JSON string",
       post("/v1/chat/completions", R"({"model":"m","messages":[{"role":"user","content":")" + bad + R"("}]})"), 400},
      {"a JSON model id", post("/v1/completions", R"({"model":")" + bad + R"(","prompt":"x"})"), 400},
      {"a lone surrogate escape", post("/v1/completions", R"({"model":"m","prompt":"\udcff"})"), 400},
      {"an access request",
       post("/v1/access-requests", R"({"model":"m","level":"research","justification":")" + bad + R"("})"), 400},
  };
  for (const char* header : {"Authorization", "Transfer-Encoding", "Content-Length", "Expect", "Connection",
                             "Content-Type", "User-Agent", "X-Forwarded-For"}) {
    cases.push_back(
        {std::string("the ") + header + " header", get("/v1/models", std::string(header) + ": " + bad + "\r\n"), 400});
  }
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    auto client = http::TestClient::Connect(server_.port());
    ASSERT_TRUE(client);
    ASSERT_TRUE(client->Send(c.bytes));
    auto r = client->ReadResponse();
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->status, c.status) << r->body;
    auto body = ParseJson(r->body);
    ASSERT_TRUE(body.ok()) << "not JSON: " << r->body;
    EXPECT_TRUE(body->contains("error")) << r->body;
  }
  ExpectStillServing();
  auto chat = server_.Call("POST", "/v1/chat/completions",
                           R"({"model":"m","messages":[{"role":"user","content":"Hi"}],"max_tokens":4})", key_);
  EXPECT_EQ(chat.status, 200) << chat.body;
}

TEST_F(HostileInputTest, RateLimitAnswers429WithRetryAfter) {
  Config c = DefaultConfig();
  c.principal_requests_per_minute = 3;
  TestServer limited(c);
  limited.AddPrincipal("bob", Role::kMember);
  std::string key = limited.CreateKey("bob");
  for (int i = 0; i < 3; ++i) EXPECT_EQ(limited.Call("GET", "/v1/models", "", key).status, 200);
  auto r = limited.Call("GET", "/v1/models", "", key);
  EXPECT_EQ(r.status, 429);
  ASSERT_TRUE(r.Header("retry-after").has_value());
  EXPECT_GE(std::stoi(*r.Header("retry-after")), 1);
  limited.clock().AdvanceSeconds(60);
  EXPECT_EQ(limited.Call("GET", "/v1/models", "", key).status, 200);
}

}  // namespace
}  // namespace aperture::testing
