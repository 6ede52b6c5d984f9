#include "backends/backend_client.h"

#include <limits>
#include <map>
#include <optional>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "fmt/format.h"

namespace aperture::backends {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = net::ip::tcp;

// One thread and its io_context; its idle connections are touched only on it.
struct BackendClient::Worker {
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> guard{ioc.get_executor()};
  std::map<std::string, std::vector<std::unique_ptr<beast::tcp_stream>>> idle;  // by "host:port"
  std::thread thread;
};

namespace {

constexpr size_t kPiece = 16 * 1024;

bool TimedOut(const beast::error_code& ec) { return ec == beast::error::timeout; }

// A failure before any byte of the answer on a reused connection: the
// backend closed it while it was idle; a fresh one is tried instead.
bool StaleConnection(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == net::error::eof || ec == net::error::connection_reset ||
         ec == net::error::broken_pipe;
}

class ExchangeImpl final : public Exchange, public std::enable_shared_from_this<ExchangeImpl> {
 public:
  ExchangeImpl(BackendClient::Worker& worker, size_t max_idle, const HttpUrl& url, ExchangeRequest request,
               ExchangeTimeouts timeouts, ExchangeHandler handler)
      : worker_(worker),
        max_idle_(max_idle),
        url_(url),
        key_(fmt::format("{}:{}", url.host, url.port)),
        request_(std::move(request)),
        timeouts_(timeouts),
        handler_(std::move(handler)),
        resolver_(worker.ioc) {}

  void Begin() {
    net::post(worker_.ioc, [self = shared_from_this()] { self->TakeConnection(); });
  }

  void Cancel() override {
    net::post(worker_.ioc,
              [self = shared_from_this()] { self->Finish(absl::CancelledError("the exchange was cancelled")); });
  }

 private:
  void TakeConnection() {
    if (done_) return;
    auto& pool = worker_.idle[key_];
    if (!pool.empty()) {
      stream_ = std::move(pool.back());
      pool.pop_back();
      reused_ = true;
      return Send();
    }
    Connect();
  }

  void Connect() {
    reused_ = false;
    stream_ = std::make_unique<beast::tcp_stream>(worker_.ioc);
    stream_->expires_after(timeouts_.connect);
    resolver_.async_resolve(
        url_.host, std::to_string(url_.port),
        [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type endpoints) {
          if (self->done_) return;
          if (ec)
            return self->Finish(
                absl::UnavailableError(fmt::format("cannot resolve the backend's host: {}", ec.message())));
          self->stream_->expires_after(self->timeouts_.connect);
          self->stream_->async_connect(endpoints, [self](beast::error_code ec, const tcp::endpoint&) {
            if (self->done_) return;
            if (TimedOut(ec)) return self->Finish(absl::DeadlineExceededError("connecting to the backend timed out"));
            if (ec)
              return self->Finish(
                  absl::UnavailableError(fmt::format("cannot connect to the backend: {}", ec.message())));
            self->Send();
          });
        });
  }

  void Send() {
    message_ = {};
    message_.method_string(request_.method);
    message_.target(url_.prefix + request_.target);
    message_.version(11);
    message_.set(bhttp::field::host, url_.port == 80 ? url_.host : fmt::format("{}:{}", url_.host, url_.port));
    message_.set(bhttp::field::user_agent, "aperture");
    message_.set(bhttp::field::accept, "application/json, text/event-stream");
    if (!request_.bearer.empty()) message_.set(bhttp::field::authorization, "Bearer " + request_.bearer);
    if (!request_.body.empty()) {
      message_.set(bhttp::field::content_type, "application/json");
      message_.body() = request_.body;
    }
    message_.keep_alive(true);
    message_.prepare_payload();
    stream_->expires_after(timeouts_.head);
    bhttp::async_write(*stream_, message_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->done_) return;
      if (ec && self->reused_ && StaleConnection(ec)) return self->Connect();
      if (TimedOut(ec))
        return self->Finish(absl::DeadlineExceededError("sending the request to the backend timed out"));
      if (ec) return self->Finish(absl::UnavailableError(fmt::format("cannot send to the backend: {}", ec.message())));
      self->ReadHead();
    });
  }

  void ReadHead() {
    buffer_.clear();
    parser_.emplace();
    // The handler bounds what it keeps. (Not boost::none: Boost 1.74 then
    // refuses every body with a Content-Length.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    bhttp::async_read_header(*stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->done_) return;
      if (ec && self->reused_ && StaleConnection(ec) && self->buffer_.size() == 0) return self->Connect();
      if (TimedOut(ec)) return self->Finish(absl::DeadlineExceededError("the backend did not answer in time"));
      if (ec)
        return self->Finish(absl::UnavailableError(fmt::format("reading the backend's answer: {}", ec.message())));
      const auto& head = self->parser_->get();
      if (self->handler_.on_head) {
        self->handler_.on_head(head.result_int(), std::string(head[bhttp::field::content_type]));
      }
      self->ReadBody();
    });
  }

  void ReadBody() {
    if (done_) return;
    if (parser_->is_done()) return Complete();
    parser_->get().body().data = piece_;
    parser_->get().body().size = kPiece;
    stream_->expires_after(timeouts_.idle);
    bhttp::async_read_some(*stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (self->done_) return;
      if (ec == bhttp::error::need_buffer) ec = {};
      const size_t got = kPiece - self->parser_->get().body().size;
      if (got > 0 && self->handler_.on_body && !self->handler_.on_body(std::string_view(self->piece_, got))) {
        return self->Finish(absl::CancelledError("the exchange was stopped"));
      }
      if (TimedOut(ec)) return self->Finish(absl::DeadlineExceededError("the backend's answer stalled"));
      if (ec)
        return self->Finish(absl::UnavailableError(fmt::format("reading the backend's answer: {}", ec.message())));
      self->ReadBody();
    });
  }

  void Complete() {
    if (parser_->get().keep_alive()) {
      auto& pool = worker_.idle[key_];
      stream_->expires_never();
      if (pool.size() < max_idle_) pool.push_back(std::move(stream_));
    }
    Finish(absl::OkStatus());
  }

  void Finish(absl::Status status) {
    if (done_) return;
    done_ = true;
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().close(ignored);  // anything still pending completes, aborted
    }
    resolver_.cancel();
    // Handlers go now: they may hold whoever holds this exchange.
    auto on_done = std::move(handler_.on_done);
    handler_ = {};
    if (on_done) on_done(std::move(status));
  }

  BackendClient::Worker& worker_;
  const size_t max_idle_;
  const HttpUrl url_;
  const std::string key_;
  const ExchangeRequest request_;
  const ExchangeTimeouts timeouts_;
  ExchangeHandler handler_;
  tcp::resolver resolver_;
  std::unique_ptr<beast::tcp_stream> stream_;
  bool reused_ = false;
  bool done_ = false;
  bhttp::request<bhttp::string_body> message_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::response_parser<bhttp::buffer_body>> parser_;
  char piece_[kPiece];
};

}  // namespace

BackendClient::BackendClient(int threads, size_t max_idle_per_backend) : max_idle_(max_idle_per_backend) {
  for (int i = 0; i < std::max(1, threads); ++i) {
    auto w = std::make_unique<Worker>();
    Worker* raw = w.get();
    w->thread = std::thread([raw, i] {
      pthread_setname_np(pthread_self(), fmt::format("backends-{}", i).c_str());
      raw->ioc.run();
    });
    workers_.push_back(std::move(w));
  }
}

BackendClient::~BackendClient() { Stop(); }

void BackendClient::Stop() {
  for (auto& w : workers_) {
    w->guard.reset();
    w->ioc.stop();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  // The idle connections close as the workers go (in the destructor);
  // abandoned handlers are destroyed with their io_context.
}

std::shared_ptr<Exchange> BackendClient::Start(const HttpUrl& url, ExchangeRequest request, ExchangeTimeouts timeouts,
                                               ExchangeHandler handler) {
  Worker& w = *workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()];
  auto exchange = std::make_shared<ExchangeImpl>(w, max_idle_, url, std::move(request), timeouts, std::move(handler));
  exchange->Begin();
  return exchange;
}

}  // namespace aperture::backends
