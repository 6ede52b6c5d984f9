// Malformed and hostile input gets a clear 4xx or a closed connection, and the
// server keeps serving everyone else.
#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/test_server.h"

namespace aperture::testing {
namespace {

Config SmallLimits() {
  Config c = DefaultConfig();
  c.server.max_body_bytes = 64 * 1024;
  c.server.max_header_bytes = 8 * 1024;
  c.server.read_timeout_ms = 300;
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

TEST_F(HostileInputTest, DuplicateAuthorizationIsRefused) {
  auto r = server_.Call("GET", "/v1/models", "", key_, {"Authorization: Bearer " + server_.owner_key()});
  EXPECT_EQ(r.status, 400);
  ExpectStillServing();
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
