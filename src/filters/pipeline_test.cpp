// The pipeline always answers and always records, whatever a filter or
// handler does (Envoy tests each filter alone; this is the chain's own test).
#include "filters/pipeline.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "absl/synchronization/mutex.h"
#include "filters/limits/parse_filter.h"

namespace aperture {
namespace {

class FakeRecorder final : public Recorder {
 public:
  void Record(LogEvent event) override {
    absl::MutexLock lock(&mu_);
    events_.push_back(std::move(event));
  }
  absl::Status RecordDurably(LogEvent event) override {
    Record(std::move(event));
    return absl::OkStatus();
  }
  void Flush() override {}
  std::vector<LogEvent> events() {
    absl::MutexLock lock(&mu_);
    return events_;
  }

 private:
  absl::Mutex mu_;
  std::vector<LogEvent> events_ ABSL_GUARDED_BY(mu_);
};

class ThrowingFilter final : public Filter {
 public:
  std::optional<http::Response> Apply(RequestContext&) override { throw std::runtime_error("filter broke"); }
};

std::optional<std::string> Header(const http::Response& r, std::string_view name) {
  for (const auto& [k, v] : r.headers) {
    if (k == name) return v;
  }
  return std::nullopt;
}

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() {
    router_.Add({"GET", "/ok", "ok", Access::kAnyone, ModelFrom::kNone, {}, {}, [](RequestContext&) {
                   http::Response r;
                   r.body = "{}";
                   return r;
                 }});
    router_.Add(
        {"GET", "/throws", "throws", Access::kAnyone, ModelFrom::kNone, {}, {}, [](RequestContext&) -> http::Response {
           throw std::logic_error("handler broke");
         }});
    router_.Add({"GET", "/later", "later", Access::kAnyone, ModelFrom::kNone, {}, {}, [this](RequestContext&) {
                   return http::LaterResponse(later_);
                 }});
  }
  std::unique_ptr<Pipeline> Make(bool throwing_filter) {
    std::vector<std::unique_ptr<Filter>> chain;
    chain.push_back(std::make_unique<ParseFilter>(router_));
    if (throwing_filter) chain.push_back(std::make_unique<ThrowingFilter>());
    return std::make_unique<Pipeline>(std::move(chain), RecordFilter(recorder_, metrics_, clock_), clock_);
  }
  http::Request Get(std::string path) {
    http::Request r;
    r.method = "GET";
    r.path = r.target = std::move(path);
    return r;
  }
  Json Details(const LogEvent& e) { return *ParseJson(e.details); }

  FakeClock clock_;
  FakeRecorder recorder_;
  Metrics metrics_;
  Router router_;
  std::shared_ptr<http::DeferredResponse> later_ = std::make_shared<http::DeferredResponse>();
};

TEST_F(PipelineTest, EveryAnswerCarriesARequestIdThatTheRecordHolds) {
  auto pipeline = Make(false);
  http::Request a = Get("/ok"), b = Get("/ok");
  http::Response ra = pipeline->Handle(a), rb = pipeline->Handle(b);
  EXPECT_EQ(ra.status, 200);
  ASSERT_TRUE(Header(ra, "X-Request-Id").has_value());
  EXPECT_NE(Header(ra, "X-Request-Id"), Header(rb, "X-Request-Id"));
  auto events = recorder_.events();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(Details(events[0])["request_id"], *Header(ra, "X-Request-Id"));
  EXPECT_EQ(events[0].outcome, "allow");
}

TEST_F(PipelineTest, AThrowingHandlerIsA500WithTheRequestIdAndIsRecorded) {
  auto pipeline = Make(false);
  http::Request req = Get("/throws");
  http::Response r = pipeline->Handle(req);
  EXPECT_EQ(r.status, 500);
  const std::string id = Header(r, "X-Request-Id").value_or("");
  ASSERT_FALSE(id.empty());
  EXPECT_NE(r.body.find(id), std::string::npos) << r.body;
  EXPECT_EQ(r.body.find("handler broke"), std::string::npos) << "internal details leaked: " << r.body;
  auto events = recorder_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, "error");
  EXPECT_EQ(events[0].reason, "internal_error");
  EXPECT_EQ(Details(events[0])["status"], 500);
  EXPECT_EQ(Details(events[0])["route"], "throws");
  // The next request is served as usual.
  http::Request ok = Get("/ok");
  EXPECT_EQ(pipeline->Handle(ok).status, 200);
}

TEST_F(PipelineTest, AThrowingFilterIsA500AndIsRecorded) {
  auto pipeline = Make(true);
  http::Request req = Get("/ok");
  http::Response r = pipeline->Handle(req);
  EXPECT_EQ(r.status, 500);
  auto events = recorder_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].outcome, "error");
  EXPECT_EQ(Details(events[0])["status"], 500);
}

TEST_F(PipelineTest, APendingAnswerIsRecordedWithTheStatusItGets) {
  auto pipeline = Make(false);
  http::Request req = Get("/later");
  http::Response r = pipeline->Handle(req);
  ASSERT_NE(r.pending, nullptr);
  EXPECT_TRUE(recorder_.events().empty());  // not known yet
  std::optional<http::Response> got;
  r.pending->Wait([&](http::Response answer) { got = std::move(answer); });
  later_->Resolve(http::ErrorResponse(503, "busy", "overloaded"));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->status, 503);
  EXPECT_TRUE(Header(*got, "X-Request-Id").has_value());
  auto events = recorder_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Details(events[0])["status"], 503);
}

TEST_F(PipelineTest, APendingAnswerTheClientLeftIsRecordedOnceAs499) {
  auto pipeline = Make(false);
  bool cancelled = false;
  later_->OnCancel([&] { cancelled = true; });
  http::Request req = Get("/later");
  http::Response r = pipeline->Handle(req);
  r.pending->Wait([](http::Response) { ADD_FAILURE() << "answered after the client left"; });
  r.pending->Cancel();
  later_->Resolve(http::Response());  // too late: ignored
  EXPECT_TRUE(cancelled);
  auto events = recorder_.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(Details(events[0])["status"], kClientClosedRequest);
}

TEST_F(PipelineTest, AnUnknownRouteIs404AndRecorded) {
  auto pipeline = Make(false);
  http::Request req = Get("/nope/\xff\xfe");
  http::Response r = pipeline->Handle(req);
  EXPECT_EQ(r.status, 404);
  EXPECT_TRUE(ParseJson(r.body).ok()) << "the body must be valid JSON whatever the path held";
  EXPECT_EQ(recorder_.events().size(), 1u);
}

}  // namespace
}  // namespace aperture
