#include "backends/backend_client.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "http/server.h"

namespace aperture::backends {
namespace {

// A body the test feeds chunk by chunk.
class FedStream final : public http::ChunkSource {
 public:
  void Push(std::optional<std::string> chunk) {
    std::function<void(std::optional<std::string>)> ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (waiting_) {
        ready = std::move(waiting_);
        waiting_ = nullptr;
      } else {
        queued_.push_back(std::move(chunk));
        return;
      }
    }
    ready(std::move(chunk));
  }
  void Next(std::function<void(std::optional<std::string>)> ready) override {
    std::optional<std::string> chunk;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (queued_.empty()) {
        waiting_ = std::move(ready);
        return;
      }
      chunk = std::move(queued_.front());
      queued_.pop_front();
    }
    ready(std::move(chunk));
  }
  void Cancel() override { cancelled = true; }
  std::atomic<bool> cancelled{false};

 private:
  std::mutex mu_;
  std::deque<std::optional<std::string>> queued_;
  std::function<void(std::optional<std::string>)> waiting_;
};

// Never answers: for the head deadline.
class Never final : public http::PendingResponse {
 public:
  void Wait(std::function<void(http::Response)>) override {}
  void Cancel() override {}
};

class BackendClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    http::ServerOptions options;
    options.port = 0;
    options.threads = 1;
    options.idle_timeout = std::chrono::milliseconds(100);  // idle connections closed soon
    auto server = http::Server::Start(options, [this](http::Request& r) { return Handle(r); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    url_ = *ParseHttpUrl("http://127.0.0.1:" + std::to_string(server_->port()) + "/base");
  }

  http::Response Handle(http::Request& r) {
    ++requests_;
    last_auth_ = std::string(r.Header("authorization").value_or(""));
    if (r.path == "/base/whole") {
      http::Response out;
      out.body = R"({"ok":true,"echo":)" + std::to_string(r.body.size()) + "}";
      return out;
    }
    if (r.path == "/base/stream") {
      http::Response out;
      out.content_type = "text/event-stream";
      out.stream = stream_;
      return out;
    }
    if (r.path == "/base/never") return http::LaterResponse(std::make_shared<Never>());
    return http::ErrorResponse(404, "no", "not_found");
  }

  struct Result {
    int status = 0;
    std::string content_type, body;
    std::vector<std::string> pieces;
    absl::Status done;
  };
  // Runs one exchange to its end.
  Result Run(ExchangeRequest request, ExchangeTimeouts timeouts = {}, const HttpUrl* url = nullptr) {
    auto result = std::make_shared<Result>();
    std::promise<void> finished;
    client_.Start(url ? *url : url_, std::move(request), timeouts,
                  {.on_head =
                       [result](int status, const std::string& type) {
                         result->status = status;
                         result->content_type = type;
                       },
                   .on_body =
                       [result](std::string_view piece) {
                         result->pieces.emplace_back(piece);
                         result->body.append(piece);
                         return true;
                       },
                   .on_done =
                       [result, &finished](absl::Status s) {
                         result->done = s;
                         finished.set_value();
                       }});
    finished.get_future().wait();
    return *result;
  }

  BackendClient client_{1};
  std::unique_ptr<http::Server> server_;
  HttpUrl url_;
  std::shared_ptr<FedStream> stream_ = std::make_shared<FedStream>();
  std::atomic<int> requests_{0};
  std::string last_auth_;
};

TEST_F(BackendClientTest, AWholeAnswerWithItsHead) {
  Result r = Run({"POST", "/whole", "{\"x\":1}", "tok"});
  EXPECT_TRUE(r.done.ok()) << r.done;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(r.body, R"({"ok":true,"echo":7})");
  EXPECT_EQ(last_auth_, "Bearer tok");
  Result missing = Run({"GET", "/nothing", "", ""});
  EXPECT_TRUE(missing.done.ok());
  EXPECT_EQ(missing.status, 404);
}

// Each piece reaches the handler when the backend sends it, not at the end.
TEST_F(BackendClientTest, AStreamedAnswerArrivesPieceByPiece) {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> pieces;
  absl::Status done = absl::UnknownError("running");
  client_.Start(url_, {"POST", "/stream", "{}", ""}, {},
                {.on_head = [](int, const std::string&) {},
                 .on_body =
                     [&](std::string_view piece) {
                       std::lock_guard<std::mutex> lock(mu);
                       pieces.emplace_back(piece);
                       cv.notify_all();
                       return true;
                     },
                 .on_done =
                     [&](absl::Status s) {
                       std::lock_guard<std::mutex> lock(mu);
                       done = s;
                       cv.notify_all();
                     }});
  for (int i = 0; i < 3; ++i) {
    const std::string event = "data: " + std::to_string(i) + "\n\n";
    stream_->Push(event);
    std::unique_lock<std::mutex> lock(mu);
    // The next chunk is sent only once this one has arrived.
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] {
      std::string all;
      for (const auto& p : pieces) all += p;
      return all.ends_with(event);
    }));
  }
  stream_->Push(std::nullopt);
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return !absl::IsUnknown(done); }));
  EXPECT_TRUE(done.ok()) << done;
  EXPECT_GE(pieces.size(), 3u);
}

TEST_F(BackendClientTest, ConnectionsClosedWhileIdleAreReplaced) {
  for (int i = 0; i < 3; ++i) {
    Result r = Run({"POST", "/whole", "{}", ""});
    EXPECT_TRUE(r.done.ok()) << i << ": " << r.done;
    EXPECT_EQ(r.status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the server closes the idle connection
  }
  for (int i = 0; i < 20; ++i) EXPECT_TRUE(Run({"POST", "/whole", "{}", ""}).done.ok()) << i;  // kept alive
  EXPECT_EQ(requests_.load(), 23);
}

TEST_F(BackendClientTest, DeadlinesAndRefusals) {
  ExchangeTimeouts quick;
  quick.head = std::chrono::milliseconds(200);
  Result slow = Run({"POST", "/never", "{}", ""}, quick);
  EXPECT_EQ(slow.done.code(), absl::StatusCode::kDeadlineExceeded) << slow.done;
  EXPECT_EQ(slow.status, 0);

  // A port nothing listens on.
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor a(ioc, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const uint16_t port = a.local_endpoint().port();
  a.close();
  HttpUrl closed = *ParseHttpUrl("http://127.0.0.1:" + std::to_string(port));
  Result refused = Run({"GET", "/v1/models", "", ""}, {}, &closed);
  EXPECT_EQ(refused.done.code(), absl::StatusCode::kUnavailable) << refused.done;

  HttpUrl nowhere = *ParseHttpUrl("http://no-such-host.invalid:80");
  EXPECT_EQ(Run({"GET", "/", "", ""}, {}, &nowhere).done.code(), absl::StatusCode::kUnavailable);
}

TEST_F(BackendClientTest, CancellingMidStreamEndsTheExchange) {
  std::promise<absl::Status> done;
  std::promise<void> first;
  std::atomic<bool> got{false};
  auto exchange = client_.Start(url_, {"POST", "/stream", "{}", ""}, {},
                                {.on_head = [](int, const std::string&) {},
                                 .on_body =
                                     [&](std::string_view) {
                                       if (!got.exchange(true)) first.set_value();
                                       return true;
                                     },
                                 .on_done = [&](absl::Status s) { done.set_value(s); }});
  stream_->Push("data: 1\n\n");
  first.get_future().wait();
  exchange->Cancel();
  EXPECT_EQ(done.get_future().get().code(), absl::StatusCode::kCancelled);
  // The backend sees its client go.
  for (int i = 0; i < 500 && !stream_->cancelled; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_TRUE(stream_->cancelled);
}

}  // namespace
}  // namespace aperture::backends
