// End-to-end tests of the HTTP server over real sockets on 127.0.0.1.
#include "http/server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "fmt/format.h"
#include "http/test_client.h"

namespace aperture::http {
namespace {

using std::chrono::milliseconds;

// Answers from a thread of its own, one chunk per Next() after `delay`:
// "c0;" ... then the end, or forever when `count` is negative.
class ThreadedSource : public ChunkSource {
 public:
  ThreadedSource(int count, milliseconds delay) : count_(count), delay_(delay), worker_([this] { Run(); }) {}
  ~ThreadedSource() override {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }

  void Next(std::function<void(std::optional<std::string>)> ready) override {
    {
      std::lock_guard lock(mu_);
      pending_ = std::move(ready);
    }
    cv_.notify_all();
  }
  void Cancel() override {
    cancels_.fetch_add(1);
    {
      std::lock_guard lock(mu_);
      pending_ = nullptr;
    }
    cv_.notify_all();
  }
  int cancels() const { return cancels_.load(); }

 private:
  void Run() {
    int produced = 0;
    for (;;) {
      std::function<void(std::optional<std::string>)> ready;
      {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return stop_ || pending_ != nullptr; });
        if (stop_) return;
        ready = std::move(pending_);
        pending_ = nullptr;
      }
      std::this_thread::sleep_for(delay_);
      if (count_ >= 0 && produced >= count_) {
        ready(std::nullopt);
      } else {
        ready(fmt::format("c{};", produced++));
      }
    }
  }

  const int count_;
  const milliseconds delay_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::function<void(std::optional<std::string>)> pending_;
  std::atomic<int> cancels_{0};
  std::thread worker_;
};

// A source whose Next() throws: a bug in a handler's stream.
class ThrowingSource : public ChunkSource {
 public:
  void Next(std::function<void(std::optional<std::string>)>) override { throw std::runtime_error("source broke"); }
  void Cancel() override {}
};

// Polls `condition` for up to five seconds.
bool Eventually(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return condition();
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions options = {}) {
    options.port = 0;
    options.threads = 2;
    auto server = Server::Start(options, [this](Request& request) { return Handle(request); });
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(server).value();
  }

  std::unique_ptr<TestClient> Connect() {
    auto client = TestClient::Connect(server_->port());
    EXPECT_NE(client, nullptr);
    return client;
  }

  Response Handle(Request& request) {
    calls_.fetch_add(1);
    if (request.path == "/stream" || request.path == "/sized") {
      std::lock_guard lock(source_mu_);
      Response response;
      response.content_type = "text/event-stream";
      response.stream = source_;
      if (request.path == "/sized") response.stream_length = sized_length_;
      return response;
    }
    if (request.path == "/throw") throw std::runtime_error("handler failed");
    if (request.path == "/later") {
      std::lock_guard lock(source_mu_);
      later_ = std::make_shared<DeferredResponse>();
      later_->OnCancel([this] { later_cancels_.fetch_add(1); });
      return LaterResponse(later_);
    }
    if (request.path == "/throwing-stream") {
      Response response;
      response.stream = std::make_shared<ThrowingSource>();
      return response;
    }
    if (request.path == "/close") {
      Response response;
      response.body = "bye";
      response.SetHeader("Connection", "close");
      return response;
    }
    std::string body = fmt::format("method={} path={} remote={} body={}", request.method, request.path,
                                   request.remote_address, request.body);
    for (const auto& [name, value] : request.query) body += fmt::format(" q[{}]={}", name, value);
    if (auto auth = request.Header("Authorization")) body += fmt::format(" auth={}", *auth);
    Response response;
    response.content_type = "text/plain";
    response.body = std::move(body);
    response.SetHeader("X-Test", "yes");
    return response;
  }

  void SetSource(std::shared_ptr<ThreadedSource> source, uint64_t sized_length = 0) {
    std::lock_guard lock(source_mu_);
    source_ = std::move(source);
    sized_length_ = sized_length;
  }

  std::shared_ptr<DeferredResponse> later() {
    std::lock_guard lock(source_mu_);
    return later_;
  }

  std::unique_ptr<Server> server_;
  std::atomic<int> calls_{0};
  std::mutex source_mu_;
  std::shared_ptr<ThreadedSource> source_;
  uint64_t sized_length_ = 0;
  std::shared_ptr<DeferredResponse> later_;
  std::atomic<int> later_cancels_{0};
};

void ExpectJsonError(const TestResponse& response, int status, std::string_view type) {
  EXPECT_EQ(response.status, status);
  EXPECT_EQ(response.Header("content-type"), "application/json");
  EXPECT_NE(response.body.find("\"error\""), std::string::npos) << response.body;
  EXPECT_NE(response.body.find(fmt::format("\"type\":\"{}\"", type)), std::string::npos) << response.body;
}

TEST_F(ServerTest, GetDecodesQueryAndSetsHeaders) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/echo?a=1&b=hello+world%21&c=%E2%82%AC"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body,
            "method=GET path=/echo remote=127.0.0.1 body= q[a]=1 q[b]=hello world! "
            "q[c]=\xe2\x82\xac");
  EXPECT_EQ(response->Header("server"), "aperture");
  EXPECT_EQ(response->Header("content-type"), "text/plain");
  EXPECT_EQ(response->Header("content-length"), std::to_string(response->body.size()));
  EXPECT_EQ(response->Header("x-test"), "yes");
  EXPECT_TRUE(response->keep_alive);
}

TEST_F(ServerTest, PostBodyReachesHandler) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("POST", "/p", "{\"x\":1}", {"Authorization: Bearer k"}));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "method=POST path=/p remote=127.0.0.1 body={\"x\":1} auth=Bearer k");
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  auto client = Connect();
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client->SendRequest("POST", fmt::format("/n{}", i), fmt::format("body{}", i)));
    auto response = client->ReadResponse();
    ASSERT_TRUE(response.has_value()) << i;
    EXPECT_EQ(response->body, fmt::format("method=POST path=/n{} remote=127.0.0.1 body=body{}", i, i));
  }
  EXPECT_EQ(calls_.load(), 5);
}

TEST_F(ServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer();
  auto client = Connect();
  std::string batch;
  for (int i = 0; i < 4; ++i) {
    batch += fmt::format("GET /p{} HTTP/1.1\r\nHost: h\r\n\r\n", i);
  }
  ASSERT_TRUE(client->Send(batch));
  for (int i = 0; i < 4; ++i) {
    auto response = client->ReadResponse();
    ASSERT_TRUE(response.has_value()) << i;
    EXPECT_EQ(response->body, fmt::format("method=GET path=/p{} remote=127.0.0.1 body=", i));
  }
}

TEST_F(ServerTest, ConnectionCloseIsHonoured) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/", "", {"Connection: close"}));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
}

TEST_F(ServerTest, HandlerAskingToCloseClosesTheConnection) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/close"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "bye");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
}

TEST_F(ServerTest, Http10WithoutKeepAliveCloses) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send("GET /old HTTP/1.0\r\n\r\n"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
}

TEST_F(ServerTest, HeadSendsNoBody) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send("HEAD /h HTTP/1.1\r\nHost: h\r\n\r\nGET /after HTTP/1.1\r\nHost: h\r\n\r\n"));
  // The HEAD response announces a length but carries no body, so the next
  // response must start right after its header.
  ASSERT_TRUE(client->ReadUntil("HTTP/1.1 200 OK", milliseconds(5000)));
  ASSERT_TRUE(client->ReadUntil("path=/after", milliseconds(5000)));
  const std::string& raw = client->pending();
  size_t first_end = raw.find("\r\n\r\n");
  ASSERT_NE(first_end, std::string::npos);
  EXPECT_EQ(raw.compare(first_end + 4, 9, "HTTP/1.1 "), 0) << raw;
}

TEST_F(ServerTest, ExpectContinueGetsInterimResponse) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send("POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"));
  auto interim = client->ReadResponse();
  ASSERT_TRUE(interim.has_value());
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client->Send("hello"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "method=POST path=/c remote=127.0.0.1 body=hello");
}

TEST_F(ServerTest, ChunkedBodyWithinLimitIsDecoded) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(
      client->Send("POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "method=POST path=/c remote=127.0.0.1 body=hello world");
}

TEST_F(ServerTest, HeaderOverLimitIs431) {
  ServerOptions options;
  options.max_header_bytes = 1024;
  StartServer(options);
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/", "", {"X-Big: " + std::string(2000, 'a')}));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 431, "invalid_request_error");
  EXPECT_EQ(response->Header("connection"), "close");
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(ServerTest, ContentLengthOverLimitIs413WithoutReadingTheBody) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  StartServer(options);
  auto client = Connect();
  // Only the header is sent: the answer must not wait for the body.
  ASSERT_TRUE(client->Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 100000000\r\n\r\n"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 413, "invalid_request_error");
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(ServerTest, ChunkedBodyOverLimitIs413) {
  ServerOptions options;
  options.max_body_bytes = 1000;
  StartServer(options);
  auto client = Connect();
  std::string request = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "190\r\n" + std::string(400, 'x') + "\r\n";
  request += "0\r\n\r\n";
  ASSERT_TRUE(client->Send(request));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 413, "invalid_request_error");
  EXPECT_EQ(calls_.load(), 0);
}

struct BadRequestCase {
  const char* name;
  const char* bytes;
};

class BadRequestTest : public ServerTest, public ::testing::WithParamInterface<BadRequestCase> {};

TEST_P(BadRequestTest, IsAnswered400AndClosed) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->Send(GetParam().bytes));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 400, "invalid_request_error");
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
  EXPECT_EQ(calls_.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(
    Malformed, BadRequestTest,
    ::testing::Values(
        BadRequestCase{"GarbageRequestLine", "GARBAGE\r\n\r\n"},
        BadRequestCase{"BadVersion", "GET / HTTP/9.9\r\nHost: h\r\n\r\n"},
        BadRequestCase{"SpaceInTarget", "GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"},
        BadRequestCase{"DuplicateAuthorization",
                       "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\n"
                       "authorization: Bearer b\r\n\r\n"},
        BadRequestCase{"DuplicateHost", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
        BadRequestCase{"DuplicateContentLength",
                       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\n"
                       "Content-Length: 1\r\n\r\nx"},
        BadRequestCase{"ContentLengthList", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1, 1\r\n\r\nx"},
        BadRequestCase{"ContentLengthThenChunked",
                       "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        BadRequestCase{"ChunkedThenContentLength",
                       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                       "Content-Length: 5\r\n\r\n0\r\n\r\n"},
        BadRequestCase{"DuplicateTransferEncoding",
                       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
                       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"},
        BadRequestCase{"UnsupportedTransferEncoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"},
        BadRequestCase{"MissingHost", "GET / HTTP/1.1\r\n\r\n"},
        BadRequestCase{"BadQueryEscape", "GET /p?a=%zz HTTP/1.1\r\nHost: h\r\n\r\n"},
        BadRequestCase{"RelativeTarget", "GET p HTTP/1.1\r\nHost: h\r\n\r\n"},
        BadRequestCase{"NonAsciiTarget", "GET /v1/models/\xff HTTP/1.1\r\nHost: h\r\n\r\n"},
        BadRequestCase{"NonUtf8QueryValue", "GET /p?a=%FF%FE HTTP/1.1\r\nHost: h\r\n\r\n"},
        BadRequestCase{"NonUtf8QueryName", "GET /p?%C0%AF=1 HTTP/1.1\r\nHost: h\r\n\r\n"},
        BadRequestCase{"NonUtf8TransferEncoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: \xff\xfe\r\n\r\n"},
        BadRequestCase{"NonUtf8Authorization", "GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer \xff\r\n\r\n"},
        BadRequestCase{"NonUtf8Host", "GET / HTTP/1.1\r\nHost: \xc3\x28\r\n\r\n"},
        BadRequestCase{"NonUtf8OtherHeader", "GET / HTTP/1.1\r\nHost: h\r\nX-Anything: a\xed\xa0\x80\r\n\r\n"},
        BadRequestCase{"BadChunkSize",
                       "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "zz\r\n"}),
    [](const ::testing::TestParamInfo<BadRequestCase>& info) { return info.param.name; });

TEST_F(ServerTest, HandlerExceptionIs500AndServerKeepsServing) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/throw"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 500, "server_error");
  ASSERT_TRUE(client->SendRequest("GET", "/fine"));
  response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, PendingResponseGoesOutWhenResolvedWithItsOwnStatus) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/later"));
  ASSERT_TRUE(Eventually([&] { return later() != nullptr; }));
  // Nothing, not even the status line, before the answer is known.
  EXPECT_FALSE(client->ReadResponse(milliseconds(100)).has_value());
  EXPECT_TRUE(client->pending().empty());
  std::thread resolver([answer = later()] { answer->Resolve(ErrorResponse(503, "busy", "overloaded")); });
  resolver.join();
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 503, "overloaded_error");
  // The connection carries on.
  ASSERT_TRUE(client->SendRequest("GET", "/fine"));
  response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, PendingResponseMayBecomeAStream) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/later"));
  ASSERT_TRUE(Eventually([&] { return later() != nullptr; }));
  Response stream;
  stream.content_type = "text/event-stream";
  stream.stream = std::make_shared<ThreadedSource>(3, milliseconds(1));
  later()->Resolve(std::move(stream));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "c0;c1;c2;");
}

TEST_F(ServerTest, ClientLeavingWhilePendingCancelsItOnce) {
  StartServer();
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/later"));
  ASSERT_TRUE(Eventually([&] { return later() != nullptr; }));
  client->Close();
  EXPECT_TRUE(Eventually([&] { return later_cancels_.load() == 1; }));
  later()->Resolve(Response());  // too late: nobody to answer, nothing breaks
  auto other = Connect();
  ASSERT_TRUE(other->SendRequest("GET", "/fine"));
  auto response = other->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(later_cancels_.load(), 1);
}

TEST_F(ServerTest, AStreamThatThrowsClosesOnlyItsConnection) {
  StartServer();
  auto broken = Connect();
  ASSERT_TRUE(broken->SendRequest("GET", "/throwing-stream"));
  EXPECT_TRUE(broken->WaitForClose(milliseconds(5000)));
  auto other = Connect();
  ASSERT_TRUE(other->SendRequest("GET", "/fine"));
  auto response = other->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
}

TEST_F(ServerTest, AnExceptionOnAnIoThreadDoesNotEndIt) {
  StartServer();  // two io threads
  std::atomic<int> thrown{0};
  for (int i = 0; i < 8; ++i) {
    server_->Post([&thrown] {
      thrown.fetch_add(1);
      throw std::runtime_error("a bug in an event handler");
    });
  }
  ASSERT_TRUE(Eventually([&] { return thrown.load() == 8; }));
  // Both threads still serve: several connections land on each in turn.
  for (int i = 0; i < 4; ++i) {
    auto client = Connect();
    ASSERT_TRUE(client->SendRequest("GET", "/fine"));
    auto response = client->ReadResponse();
    ASSERT_TRUE(response.has_value()) << i;
    EXPECT_EQ(response->status, 200);
  }
}

TEST_F(ServerTest, SlowClientIsCutOffWhileOthersAreServed) {
  ServerOptions options;
  options.header_timeout = options.body_timeout = milliseconds(300);
  StartServer(options);
  auto slow = Connect();
  ASSERT_TRUE(slow->Send("GET /slow HTTP/1.1\r\nHost: h\r\nX-Half"));
  // Another client is served while the slow one holds its connection.
  auto fast = Connect();
  ASSERT_TRUE(fast->SendRequest("GET", "/fast"));
  auto fast_response = fast->ReadResponse();
  ASSERT_TRUE(fast_response.has_value());
  EXPECT_EQ(fast_response->status, 200);
  // The slow client gets 408 and the connection closes, well within 5 s.
  auto response = slow->ReadResponse(milliseconds(5000));
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 408, "timeout_error");
  EXPECT_TRUE(slow->WaitForClose(milliseconds(5000)));
  // The fast connection is still usable.
  ASSERT_TRUE(fast->SendRequest("GET", "/again"));
  EXPECT_TRUE(fast->ReadResponse().has_value());
}

TEST_F(ServerTest, SlowBodyIsCutOff) {
  ServerOptions options;
  options.header_timeout = options.body_timeout = milliseconds(300);
  StartServer(options);
  auto slow = Connect();
  ASSERT_TRUE(slow->Send("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc"));
  auto response = slow->ReadResponse(milliseconds(5000));
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 408);
  EXPECT_TRUE(slow->WaitForClose(milliseconds(5000)));
  EXPECT_EQ(calls_.load(), 0);
}

// The deadlines are deadlines: bytes that keep arriving do not move them.
TEST_F(ServerTest, DribbledHeaderAndBodyAreCutOffAtTheirDeadlines) {
  ServerOptions options;
  options.header_timeout = milliseconds(300);
  options.body_timeout = milliseconds(300);
  StartServer(options);
  for (bool body : {false, true}) {
    SCOPED_TRACE(body ? "body" : "header");
    auto client = Connect();
    const std::string head = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n";
    if (body) ASSERT_TRUE(client->Send(head));
    const std::string dribble = body ? std::string(1000, 'x') : head;
    const auto start = std::chrono::steady_clock::now();
    bool closed = false;
    for (size_t i = 0; i < dribble.size() && !closed; ++i) {
      closed = !client->Send(dribble.substr(i, 1)) || client->ReadUntil("408", milliseconds(20));
    }
    EXPECT_TRUE(closed || client->ReadUntil("408", milliseconds(2000)));
    // Cut off long before the dribble could end (1000 bytes x 20 ms = 20 s).
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
  }
  EXPECT_EQ(calls_.load(), 0);
}

TEST_F(ServerTest, SilentConnectionIsClosedQuietly) {
  ServerOptions options;
  options.header_timeout = options.body_timeout = milliseconds(300);
  StartServer(options);
  auto silent = Connect();
  EXPECT_TRUE(silent->WaitForClose(milliseconds(5000)));
  EXPECT_TRUE(silent->pending().empty());
}

TEST_F(ServerTest, IdleKeepAliveConnectionIsClosed) {
  ServerOptions options;
  options.idle_timeout = milliseconds(300);
  StartServer(options);
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/"));
  ASSERT_TRUE(client->ReadResponse().has_value());
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
}

TEST_F(ServerTest, ConnectionsBeyondTheLimitGet503) {
  ServerOptions options;
  options.max_connections = 2;
  StartServer(options);
  auto first = Connect();
  auto second = Connect();
  for (auto* client : {first.get(), second.get()}) {
    ASSERT_TRUE(client->SendRequest("GET", "/"));
    ASSERT_TRUE(client->ReadResponse().has_value());
  }
  auto third = Connect();
  auto response = third->ReadResponse();
  ASSERT_TRUE(response.has_value());
  ExpectJsonError(*response, 503, "overloaded_error");
  EXPECT_EQ(response->Header("retry-after"), "1");
  EXPECT_TRUE(third->WaitForClose(milliseconds(5000)));
  // Once a connection goes away, a new one is served again.
  first->Close();
  EXPECT_TRUE(Eventually([&] {
    auto client = TestClient::Connect(server_->port());
    if (!client || !client->SendRequest("GET", "/")) return false;
    auto r = client->ReadResponse();
    return r.has_value() && r->status == 200;
  }));
}

TEST_F(ServerTest, StreamedChunksArriveInOrder) {
  StartServer();
  auto source = std::make_shared<ThreadedSource>(20, milliseconds(1));
  SetSource(source);
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/stream"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->chunked);
  EXPECT_EQ(response->Header("content-type"), "text/event-stream");
  std::string expected;
  for (int i = 0; i < 20; ++i) expected += fmt::format("c{};", i);
  EXPECT_EQ(response->body, expected);
  // The connection stays usable after the stream ends.
  ASSERT_TRUE(client->SendRequest("GET", "/after"));
  auto next = client->ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(source->cancels(), 0);
}

TEST_F(ServerTest, SizedStreamHasContentLengthAndKeepsTheConnection) {
  StartServer();
  auto source = std::make_shared<ThreadedSource>(3, milliseconds(1));
  SetSource(source, 9);  // "c0;c1;c2;"
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/sized"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_FALSE(response->chunked);
  EXPECT_EQ(response->Header("content-length"), "9");
  EXPECT_EQ(response->body, "c0;c1;c2;");
  ASSERT_TRUE(client->SendRequest("GET", "/after"));
  auto next = client->ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
  EXPECT_EQ(source->cancels(), 0);
}

TEST_F(ServerTest, SizedStreamOverHttp10StaysOpenWhenAskedTo) {
  StartServer();
  SetSource(std::make_shared<ThreadedSource>(3, milliseconds(1)), 9);
  auto client = Connect();
  ASSERT_TRUE(client->Send("GET /sized HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->body, "c0;c1;c2;");
  ASSERT_TRUE(client->Send("GET /after HTTP/1.0\r\n\r\n"));
  auto next = client->ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->status, 200);
}

TEST_F(ServerTest, SizedStreamEndingShortClosesTheConnection) {
  StartServer();
  SetSource(std::make_shared<ThreadedSource>(3, milliseconds(1)), 12);  // three bytes never come
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/sized"));
  // The client cannot get a whole response: the connection closes first.
  EXPECT_FALSE(client->ReadResponse().has_value());
}

TEST_F(ServerTest, SizedStreamRunningLongClosesTheConnectionAndCancels) {
  StartServer();
  auto source = std::make_shared<ThreadedSource>(-1, milliseconds(1));
  SetSource(source, 7);  // the third chunk would overrun
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/sized"));
  ASSERT_TRUE(client->ReadUntil("c0;c1;"));
  EXPECT_EQ(client->pending().find("c2;"), std::string::npos);
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
  EXPECT_TRUE(Eventually([&] { return source->cancels() == 1; }));
}

TEST_F(ServerTest, HeadOfSizedStreamShowsItsLengthAndNoBody) {
  StartServer();
  auto source = std::make_shared<ThreadedSource>(3, milliseconds(1));
  SetSource(source, 9);
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("HEAD", "/sized"));
  auto response = client->ReadResponse(std::chrono::seconds(5), /*head=*/true);
  ASSERT_TRUE(response.has_value());
  EXPECT_EQ(response->Header("content-length"), "9");
  EXPECT_TRUE(response->body.empty());
  ASSERT_TRUE(client->SendRequest("GET", "/after"));
  auto next = client->ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "method=GET path=/after remote=127.0.0.1 body=");
}

TEST_F(ServerTest, Http10StreamEndsWithTheConnection) {
  StartServer();
  SetSource(std::make_shared<ThreadedSource>(3, milliseconds(1)));
  auto client = Connect();
  ASSERT_TRUE(client->Send("GET /stream HTTP/1.0\r\n\r\n"));
  auto response = client->ReadResponse();
  ASSERT_TRUE(response.has_value());
  EXPECT_FALSE(response->chunked);
  EXPECT_EQ(response->body, "c0;c1;c2;");
  EXPECT_TRUE(client->WaitForClose(milliseconds(5000)));
}

TEST_F(ServerTest, PipelinedRequestAfterStreamIsServed) {
  StartServer();
  SetSource(std::make_shared<ThreadedSource>(3, milliseconds(20)));
  auto client = Connect();
  ASSERT_TRUE(client->Send("GET /stream HTTP/1.1\r\nHost: h\r\n\r\nGET /next HTTP/1.1\r\nHost: h\r\n\r\n"));
  auto streamed = client->ReadResponse();
  ASSERT_TRUE(streamed.has_value());
  EXPECT_EQ(streamed->body, "c0;c1;c2;");
  auto next = client->ReadResponse();
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(next->body, "method=GET path=/next remote=127.0.0.1 body=");
}

TEST_F(ServerTest, ClientLeavingMidStreamCancelsTheSourceOnce) {
  StartServer();
  auto source = std::make_shared<ThreadedSource>(-1, milliseconds(5));
  SetSource(source);
  auto client = Connect();
  ASSERT_TRUE(client->SendRequest("GET", "/stream"));
  ASSERT_TRUE(client->ReadUntil("c2;"));
  client->Close();
  EXPECT_TRUE(Eventually([&] { return source->cancels() > 0; }));
  server_->Stop();
  EXPECT_EQ(source->cancels(), 1);
}

TEST_F(ServerTest, StopClosesOpenConnectionsAndReturns) {
  StartServer();
  auto source = std::make_shared<ThreadedSource>(-1, milliseconds(5));
  SetSource(source);
  auto idle = Connect();
  ASSERT_TRUE(idle->SendRequest("GET", "/"));
  ASSERT_TRUE(idle->ReadResponse().has_value());
  auto half = Connect();
  ASSERT_TRUE(half->Send("GET / HTTP/1.1\r\nHo"));
  auto streaming = Connect();
  ASSERT_TRUE(streaming->SendRequest("GET", "/stream"));
  ASSERT_TRUE(streaming->ReadUntil("c1;"));

  server_->Stop();
  EXPECT_EQ(source->cancels(), 1);
  EXPECT_TRUE(idle->WaitForClose(milliseconds(5000)));
  EXPECT_TRUE(half->WaitForClose(milliseconds(5000)));
  EXPECT_TRUE(streaming->WaitForClose(milliseconds(5000)));
  server_->Stop();  // a second call is harmless
  EXPECT_EQ(TestClient::Connect(server_->port()), nullptr);
}

TEST(ServerStartTest, ReportsAPortInUse) {
  ServerOptions options;
  options.port = 0;
  auto first = Server::Start(options, [](Request&) { return Response(); });
  ASSERT_TRUE(first.ok()) << first.status();
  options.port = (*first)->port();
  auto second = Server::Start(options, [](Request&) { return Response(); });
  ASSERT_FALSE(second.ok());
  EXPECT_NE(std::string(second.status().message()).find("cannot listen"), std::string::npos);
}

TEST(ServerStartTest, RejectsInvalidOptions) {
  ServerOptions options;
  options.port = 0;
  auto ok_handler = [](Request&) { return Response(); };
  EXPECT_FALSE(Server::Start(options, nullptr).ok());
  options.max_connections = 0;
  EXPECT_FALSE(Server::Start(options, ok_handler).ok());
  options.max_connections = 10;
  options.max_header_bytes = 10;
  EXPECT_FALSE(Server::Start(options, ok_handler).ok());
  options.max_header_bytes = 4096;
  options.header_timeout = std::chrono::milliseconds(0);
  EXPECT_FALSE(Server::Start(options, ok_handler).ok());
}

TEST(ServerStartTest, RejectsAnUnknownHost) {
  ServerOptions options;
  options.host = "no such host.invalid";
  options.port = 0;
  auto server = Server::Start(options, [](Request&) { return Response(); });
  EXPECT_FALSE(server.ok());
}

}  // namespace
}  // namespace aperture::http
