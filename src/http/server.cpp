// Server::Start: the listener, the io threads and the deadline sweep.
//
// Each io thread runs an io_context of its own, and each accepted connection
// is given to the next one in turn. With one io_context shared by all
// threads, Asio hands ready events from the thread waiting in epoll to the
// others through its scheduler's lock and condition variable: a cross-thread
// wake-up for most requests, which on a paravirtualised machine costs more
// than the request's own work (docs/life_of_a_request.md, "Speed").
#include "http/server.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "absl/status/status.h"
#include "fmt/format.h"
#include "http/server_core.h"
#include "http/session.h"
#include "spdlog/spdlog.h"

namespace aperture::http {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

// How often deadlines are checked: a quarter of the shortest timeout, so a
// connection overstays by at most that, within [5 ms, 250 ms].
std::chrono::milliseconds SweepInterval(const ServerOptions& options) {
  auto shortest = std::min({options.header_timeout, options.body_timeout, options.idle_timeout});
  return std::clamp(shortest / 4, std::chrono::milliseconds(5), std::chrono::milliseconds(250));
}

// After a failed accept (out of file descriptors, say) wait this long before
// the next, rather than spin.
constexpr std::chrono::milliseconds kAcceptBackoff{50};

// An exception escaping an event handler unwinds out of run(); Asio allows
// run() to be called again after that, so one bad event never ends the
// thread, every connection on it, or (through std::terminate) the process.
void RunIoThread(net::io_context& io) {
  pthread_setname_np(pthread_self(), "http-io");
  for (;;) {
    try {
      io.run();
      return;  // stopped
    } catch (const std::exception& e) {
      spdlog::error("an http io thread caught an exception and goes on: {}", e.what());
    } catch (...) {
      spdlog::error("an http io thread caught an exception and goes on");
    }
  }
}

// Thread-safe, as Server promises.
class ServerImpl final : public Server {
 public:
  ServerImpl(ServerOptions options, Handler handler)
      : core_(std::make_shared<ServerCore>(std::move(options), std::move(handler))),
        ios_(MakeContexts(ThreadCount(core_->options()))),
        strand_(net::make_strand(*ios_[0])),
        acceptor_(strand_),
        sweep_timer_(strand_) {
    for (auto& io : ios_) work_.push_back(net::make_work_guard(*io));
  }

  ~ServerImpl() override { Stop(); }

  absl::Status Listen() {
    const ServerOptions& options = core_->options();
    boost::system::error_code ec;
    tcp::endpoint endpoint;
    net::ip::address address = net::ip::make_address(options.host, ec);
    if (!ec) {
      endpoint = tcp::endpoint(address, options.port);
    } else {
      tcp::resolver resolver(*ios_[0]);
      auto results = resolver.resolve(options.host, std::to_string(options.port), tcp::resolver::passive, ec);
      if (ec || results.empty()) {
        return absl::InvalidArgumentError(
            fmt::format("cannot listen on '{}': not an IP address or resolvable host name ({})", options.host,
                        ec ? ec.message() : std::string("no addresses")));
      }
      endpoint = results.begin()->endpoint();
    }
    auto fail = [&](std::string_view step) {
      return absl::UnavailableError(
          fmt::format("cannot listen on {}:{}: {} failed: {}", options.host, options.port, step, ec.message()));
    };
    if (acceptor_.open(endpoint.protocol(), ec)) return fail("open");
    if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec)) return fail("setsockopt");
    if (acceptor_.bind(endpoint, ec)) return fail("bind");
    if (acceptor_.listen(net::socket_base::max_listen_connections, ec)) return fail("listen");
    port_ = acceptor_.local_endpoint(ec).port();
    if (ec) return fail("getsockname");
    return absl::OkStatus();
  }

  void Run() {
    net::post(strand_, [this] {
      Accept();
      Sweep();
    });
    threads_.reserve(ios_.size());
    for (auto& io : ios_) {
      threads_.emplace_back([io = io.get()] { RunIoThread(*io); });
    }
  }

  uint16_t port() const override { return port_; }

  void Post(std::function<void()> fn) override { net::post(NextContext(), std::move(fn)); }

  void Stop() override {
    absl::MutexLock stop_lock(&stop_mu_);
    if (stopped_) return;
    stopped_ = true;
    {
      // From here on no ChunkSource callback posts into the io_context.
      absl::WriterMutexLock lock(&core_->gate()->mu);
      core_->gate()->open = false;
    }
    core_->BeginStop();
    std::vector<std::shared_ptr<Session>> live;
    core_->ForEach([&](Session* session) {
      // A session whose destructor is running has no owner left; skip it.
      if (auto owned = session->weak_from_this().lock()) live.push_back(std::move(owned));
    });
    for (auto& session : live) session->PostStop();
    live.clear();
    net::post(strand_, [this] {
      boost::system::error_code ignored;
      acceptor_.close(ignored);
      sweep_timer_.cancel();
    });
    // Every connection closes and every pending handler runs; then run()
    // returns in each thread.
    work_.clear();
    for (auto& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
  }

 private:
  static int ThreadCount(const ServerOptions& options) {
    if (options.threads > 0) return options.threads;
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }

  // One io_context per thread, each told it runs on one thread (Asio then
  // skips waking other threads for the work it queues).
  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int threads) {
    std::vector<std::unique_ptr<net::io_context>> ios;
    ios.reserve(static_cast<size_t>(threads));
    for (int i = 0; i < threads; ++i) ios.push_back(std::make_unique<net::io_context>(1));
    return ios;
  }

  // The io_context of the next connection or posted task, in turn.
  net::io_context& NextContext() { return *ios_[next_context_.fetch_add(1, std::memory_order_relaxed) % ios_.size()]; }

  // Runs on strand_.
  void Accept() {
    acceptor_.async_accept(net::make_strand(NextContext()), [this](boost::system::error_code ec, tcp::socket socket) {
      if (!acceptor_.is_open()) return;  // stopped
      if (ec) {
        accept_backoff_.emplace(strand_);
        accept_backoff_->expires_after(kAcceptBackoff);
        accept_backoff_->async_wait([this](boost::system::error_code wait_ec) {
          if (!wait_ec && acceptor_.is_open()) Accept();
        });
        return;
      }
      Session::Mode mode = core_->active() >= core_->options().max_connections ? Session::Mode::kRejectOverloaded
                                                                               : Session::Mode::kServe;
      std::make_shared<Session>(core_, std::move(socket), mode)->Start();
      Accept();
    });
  }

  // Runs on strand_: queues the deadline check of every connection whose
  // deadline has passed, then re-arms.
  void Sweep() {
    int64_t now = Session::NowNs();
    core_->ForEach([&](Session* session) {
      if (!session->ClaimExpiredDeadline(now)) return;
      if (auto owned = session->weak_from_this().lock()) expired_.push_back(std::move(owned));
    });
    // Outside the registry lock: dropping our reference may be the last one,
    // and a Session's destructor takes that lock to unregister.
    for (auto& session : expired_) session->PostDeadlineCheck();
    expired_.clear();
    sweep_timer_.expires_after(SweepInterval(core_->options()));
    sweep_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && acceptor_.is_open()) Sweep();
    });
  }

  const std::shared_ptr<ServerCore> core_;
  // Declared before everything that refers to it, so destroyed last.
  std::vector<std::unique_ptr<net::io_context>> ios_;
  std::atomic<size_t> next_context_{0};
  net::strand<net::io_context::executor_type> strand_;  // acceptor and sweep, on the first io_context
  tcp::acceptor acceptor_;
  net::steady_timer sweep_timer_;
  std::optional<net::steady_timer> accept_backoff_;
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::vector<std::shared_ptr<Session>> expired_;  // Sweep's scratch list, on strand_
  uint16_t port_ = 0;

  absl::Mutex stop_mu_;
  bool stopped_ ABSL_GUARDED_BY(stop_mu_) = false;
};

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(ServerOptions options, Handler handler) {
  if (!handler) return absl::InvalidArgumentError("http::Server needs a request handler");
  if (options.max_header_bytes < 256) {
    return absl::InvalidArgumentError(fmt::format(
        "max_header_bytes = {} is too small to hold a request line and Host header", options.max_header_bytes));
  }
  if (options.max_connections == 0) {
    return absl::InvalidArgumentError("max_connections must be at least 1");
  }
  if (options.header_timeout.count() <= 0 || options.body_timeout.count() <= 0 || options.idle_timeout.count() <= 0) {
    return absl::InvalidArgumentError("header_timeout, body_timeout and idle_timeout must be positive");
  }
  auto server = std::make_unique<ServerImpl>(std::move(options), std::move(handler));
  if (absl::Status status = server->Listen(); !status.ok()) return status;
  server->Run();
  return std::unique_ptr<Server>(std::move(server));
}

}  // namespace aperture::http
