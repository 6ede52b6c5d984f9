#include "backends/remote_backends.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "http/server.h"
#include "store/testing/test_stores.h"

namespace aperture::backends {
namespace {

template <typename F>
bool Eventually(F done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// An OpenAI-compatible server whose health the test switches.
class FakeBackend {
 public:
  FakeBackend() {
    http::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    server_ = *http::Server::Start(options, [this](http::Request& r) {
      auth = std::string(r.Header("authorization").value_or(""));
      if (r.path == "/v1/models") return live ? http::Response{} : http::ErrorResponse(503, "down", "down");
      if (r.path == "/v1/chat/completions") {
        ++completions;
        if (!ready) return http::ErrorResponse(500, "broken", "broken");
        http::Response out;
        out.body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":"H"}}]})";
        return out;
      }
      return http::ErrorResponse(404, "no", "no");
    });
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_->port()); }
  std::atomic<bool> live{true}, ready{true};
  std::atomic<int> completions{0};
  std::string auth;

 private:
  std::unique_ptr<http::Server> server_;
};

class RemoteBackendsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = store::testing::TestDatabase::Create(store::testing::Backend::kSqlite);
    ASSERT_TRUE(db.ok());
    db_ = std::move(*db);
    store_ = *db_->OpenStore();
    ASSERT_TRUE(store_->CreateModel({"m", "/m.gguf", Level::kApi, "[]", 1}).ok());
    config_.health_interval_ms = 50;
    config_.ready_interval_ms = 100;
    config_.breaker_failures = 3;
    config_.breaker_open_ms = 300;
  }
  void Add(const std::string& id, const std::string& url, int64_t weight, const std::string& env = "") {
    ASSERT_TRUE(store_->CreateModelBackend({id, "m", url, "", weight, env, "cli", 1}).ok());
  }
  static bool Has(const RemoteBackends::Plan& plan, const std::string& id) {
    for (const auto& c : plan.order) {
      if (c.id == id) return true;
    }
    return false;
  }
  static std::string SkipReason(const RemoteBackends::Plan& plan, const std::string& id) {
    for (const auto& s : plan.skipped) {
      if (s.id == id) return s.why;
    }
    return "";
  }

  std::unique_ptr<store::testing::TestDatabase> db_;
  std::unique_ptr<Store> store_;
  BackendsConfig config_;
  BackendClient client_{1};
};

TEST_F(RemoteBackendsTest, TrafficFollowsTheWeights) {
  FakeBackend a, b;
  Add("bk_a", a.url(), 3);
  Add("bk_b", b.url(), 1);
  RemoteBackends backends(*store_, config_, client_);
  ASSERT_TRUE(backends.Refresh().ok());
  int a_first = 0;
  for (int i = 0; i < 4000; ++i) {
    auto plan = backends.PlanFor("m", true);
    ASSERT_EQ(plan.order.size(), 2u);
    a_first += plan.order[0].id == "bk_a";
  }
  // 3,000 expected; six standard deviations (164) either side.
  EXPECT_GT(a_first, 2700);
  EXPECT_LT(a_first, 3300);
  EXPECT_FALSE(backends.PlanFor("other", true).configured);
}

TEST_F(RemoteBackendsTest, ProbesTakeAFailingBackendOutAndBringItBack) {
  FakeBackend a, b;
  Add("bk_a", a.url(), 1);
  Add("bk_b", b.url(), 1);
  RemoteBackends backends(*store_, config_, client_);
  backends.Start();
  a.live = false;
  EXPECT_TRUE(Eventually([&] { return SkipReason(backends.PlanFor("m", true), "bk_a") == "not_live"; }));
  EXPECT_TRUE(Has(backends.PlanFor("m", true), "bk_b"));
  a.live = true;
  EXPECT_TRUE(Eventually([&] { return Has(backends.PlanFor("m", true), "bk_a"); }));
  // Live but unable to complete a token: not ready.
  b.ready = false;
  EXPECT_TRUE(Eventually([&] { return SkipReason(backends.PlanFor("m", true), "bk_b") == "not_ready"; }));
  EXPECT_GT(b.completions.load(), 0);  // a real completion was asked for
  b.ready = true;
  EXPECT_TRUE(Eventually([&] { return Has(backends.PlanFor("m", true), "bk_b"); }));
  const Json described = backends.Describe("m");
  ASSERT_EQ(described.size(), 2u);
  EXPECT_EQ(described[0]["circuit"], "closed");
  backends.Stop();
}

TEST_F(RemoteBackendsTest, FailedRequestsOpenTheCircuitAndOneTrialFollows) {
  FakeBackend a;
  Add("bk_a", a.url(), 1);
  RemoteBackends backends(*store_, config_, client_);
  ASSERT_TRUE(backends.Refresh().ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(backends.Begin("bk_a"));
    backends.Report("bk_a", false);
  }
  auto plan = backends.PlanFor("m", true);
  EXPECT_TRUE(plan.order.empty());
  EXPECT_EQ(SkipReason(plan, "bk_a"), "circuit_open");
  EXPECT_GE(plan.retry_after_seconds, 1);
  EXPECT_FALSE(backends.Begin("bk_a"));
  EXPECT_TRUE(Eventually([&] { return Has(backends.PlanFor("m", true), "bk_a"); }));  // half open
  EXPECT_TRUE(backends.Begin("bk_a"));                                                // the one trial
  EXPECT_FALSE(backends.Begin("bk_a"));                                               // no second
  backends.Report("bk_a", true);
  EXPECT_TRUE(backends.Begin("bk_a"));
  backends.Report("bk_a", true);
}

TEST_F(RemoteBackendsTest, TheTokenComesFromTheEnvironmentAndTheEngineRowFromTheModel) {
  FakeBackend a;
  Add("bk_a", a.url(), 1, "APERTURE_TEST_BACKEND_TOKEN");
  Add("bk_e", "embedded", 1);
  ::unsetenv("APERTURE_TEST_BACKEND_TOKEN");
  RemoteBackends backends(*store_, config_, client_);
  ASSERT_TRUE(backends.Refresh().ok());
  auto plan = backends.PlanFor("m", /*embedded_possible=*/false);
  EXPECT_EQ(SkipReason(plan, "bk_a"), "no_token");
  EXPECT_EQ(SkipReason(plan, "bk_e"), "no_model_file");
  ::setenv("APERTURE_TEST_BACKEND_TOKEN", "secret-token", 1);
  ASSERT_TRUE(backends.Refresh().ok());
  plan = backends.PlanFor("m", true);
  ASSERT_EQ(plan.order.size(), 2u);
  for (const auto& c : plan.order) {
    if (c.id == "bk_a") {
      EXPECT_EQ(c.bearer, "secret-token");
    }
    if (c.id == "bk_e") {
      EXPECT_TRUE(c.embedded);
    }
  }
  backends.Start();
  EXPECT_TRUE(Eventually([&] { return a.completions.load() > 0; }));
  EXPECT_EQ(a.auth, "Bearer secret-token");
  backends.Stop();
  ::unsetenv("APERTURE_TEST_BACKEND_TOKEN");
}

}  // namespace
}  // namespace aperture::backends
