// The proxy's added latency per streamed token: a stand-in backend streams
// tokens, each carrying the steady-clock time it was sent, at a fixed
// interval; a client reads them directly from the backend and through an
// Aperture server (in this process, on SQLite) that serves the model from
// that backend, alternately, and records for every token how long after its
// sending it arrived. The difference between the two distributions is what
// the proxy adds: authentication, authorization and record happen once per
// request; per token it is the relay (a parse of the backend's event, the
// checks against the caller's level, a write to the client).
//
//   proxy_bench [--streams 40] [--tokens 64] [--interval-us 2000] [--rounds 3] [--concurrency 1]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/random.h"
#include "http/server.h"
#include "server/app.h"
#include "server/init.h"

using namespace aperture;

namespace {

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A stream the backend's generator thread feeds.
class Fed final : public http::ChunkSource {
 public:
  void Push(std::optional<std::string> chunk) {
    std::function<void(std::optional<std::string>)> ready;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!waiting_) {
        queued_.push_back(std::move(chunk));
        return;
      }
      ready = std::move(waiting_);
      waiting_ = nullptr;
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

struct Options {
  int streams = 40, tokens = 64, interval_us = 2000, rounds = 3, concurrency = 1;
};

// The stand-in backend: every streamed token is the time it was sent.
std::unique_ptr<http::Server> StartBackend(const Options& o) {
  http::ServerOptions options;
  options.port = 0;
  options.threads = 1;
  auto server = http::Server::Start(options, [o](http::Request& r) {
    if (r.path == "/v1/models") return http::Response{};
    auto body = ParseJson(r.body);
    if (!body.ok() || !(*body)["stream"].is_boolean() || !(*body)["stream"].get<bool>()) {
      http::Response out;
      out.body = R"({"choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"length"}],)"
                 R"("usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
      return out;
    }
    auto stream = std::make_shared<Fed>();
    std::thread([stream, o] {
      for (int i = 0; i < o.tokens && !stream->cancelled; ++i) {
        std::this_thread::sleep_for(std::chrono::microseconds(o.interval_us));
        stream->Push("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"" + std::to_string(NowNs()) +
                     " \"},\"finish_reason\":null}]}\n\n");
      }
      stream->Push(
          "data: {\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"length\"}]}\n\n"
          "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":" +
          std::to_string(o.tokens) + "}}\n\ndata: [DONE]\n\n");
      stream->Push(std::nullopt);
    }).detach();
    http::Response out;
    out.content_type = "text/event-stream";
    out.stream = stream;
    return out;
  });
  if (!server.ok()) {
    std::fprintf(stderr, "backend: %s\n", std::string(server.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*server);
}

// One streamed chat: appends, for each token, how long after it was sent it
// arrived (ns). Reads the socket as bytes come, so each token is timed when
// its event is complete.
bool Stream(uint16_t port, const std::string& model, const std::string& key, std::vector<int64_t>& delays) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return false;
  }
  const std::string body = "{\"model\":\"" + model +
                           "\",\"messages\":[{\"role\":\"user\",\"content\":\"go\"}],\"max_tokens\":4000,"
                           "\"stream\":true}";
  std::string request = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n";
  if (!key.empty()) request += "Authorization: Bearer " + key + "\r\n";
  request += "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  if (::write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    ::close(fd);
    return false;
  }
  std::string buffer;
  char chunk[16384];
  size_t scanned = 0;
  bool done = false;
  while (!done) {
    const ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n <= 0) break;
    const int64_t now = NowNs();
    buffer.append(chunk, static_cast<size_t>(n));
    // Each complete "content":"<ns> " in what arrived.
    for (size_t at; (at = buffer.find("\"content\":\"", scanned)) != std::string::npos;) {
      const size_t start = at + 11, end = buffer.find(' ', start);
      if (end == std::string::npos) break;
      const std::string digits = buffer.substr(start, end - start);
      if (!digits.empty() && std::all_of(digits.begin(), digits.end(), ::isdigit)) {
        delays.push_back(now - std::stoll(digits));
      }
      scanned = end;
    }
    done = buffer.find("[DONE]") != std::string::npos;
  }
  ::close(fd);
  return done;
}

double Percentile(std::vector<int64_t> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return static_cast<double>(v[i]) / 1000.0;  // us
}

// `concurrency` clients, `streams` streams in all, against one port.
std::vector<int64_t> Run(uint16_t port, const std::string& model, const std::string& key, const Options& o,
                         int* failures) {
  std::mutex mu;
  std::vector<int64_t> all;
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < o.concurrency; ++c) {
    threads.emplace_back([&] {
      while (next.fetch_add(1) < o.streams) {
        std::vector<int64_t> delays;
        const bool ok = Stream(port, model, key, delays);
        std::lock_guard<std::mutex> lock(mu);
        if (!ok || static_cast<int>(delays.size()) != o.tokens) ++*failures;
        all.insert(all.end(), delays.begin(), delays.end());
      }
    });
  }
  for (auto& t : threads) t.join();
  return all;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int v = std::atoi(argv[i + 1]);
    if (flag == "--streams") o.streams = v;
    if (flag == "--tokens") o.tokens = v;
    if (flag == "--interval-us") o.interval_us = v;
    if (flag == "--rounds") o.rounds = v;
    if (flag == "--concurrency") o.concurrency = v;
  }
  auto backend = StartBackend(o);
  const std::string backend_url = "http://127.0.0.1:" + std::to_string(backend->port());

  // The front: an Aperture server whose model "remote" is served by the backend.
  const auto root = std::filesystem::temp_directory_path() / ("aperture-proxy-bench-" + NewId("b"));
  const DataDir dir{(root / "data").string()};
  auto owner = InitializeDataDir(dir);
  if (!owner.ok()) return 1;
  Config config = DefaultConfig();
  config.principal_requests_per_minute = 0;
  config.anonymous_requests_per_minute = 0;
  auto services = Services::Open(dir, config);
  if (!services.ok()) return 1;
  const Caller op = AccessService::Operator();
  if (!(*services)->access->AddRemoteModel(op, "remote", "sha256:" + std::string(64, '0'), Level::kHosted).ok() ||
      !(*services)->access->AddBackend(op, "remote", backend_url, 1, "m", "").ok()) {
    return 1;
  }
  auto app = App::Start(**services, "127.0.0.1", 0);
  if (!app.ok()) {
    std::fprintf(stderr, "front: %s\n", std::string(app.status().message()).c_str());
    return 1;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // first probes

  std::printf("proxy: streamed tokens every %d us, %d tokens a stream, %d streams a run, %d at once, %d rounds\n",
              o.interval_us, o.tokens, o.streams, o.concurrency, o.rounds);
  std::printf("  per token: time from the backend sending it to the client reading it, us\n");
  std::printf("  %-5s %-8s %9s %9s %9s %9s %8s\n", "round", "path", "p50", "p90", "p99", "p99.9", "failures");
  std::vector<double> added50, added99;
  for (int round = 1; round <= o.rounds; ++round) {
    double p[2][4];
    for (int via = 0; via < 2; ++via) {
      int failures = 0;
      std::vector<int64_t> d =
          via == 0 ? Run(backend->port(), "m", "", o, &failures) : Run((*app)->port(), "remote", *owner, o, &failures);
      p[via][0] = Percentile(d, 0.50);
      p[via][1] = Percentile(d, 0.90);
      p[via][2] = Percentile(d, 0.99);
      p[via][3] = Percentile(d, 0.999);
      std::printf("  %-5d %-8s %9.1f %9.1f %9.1f %9.1f %8d\n", round, via == 0 ? "direct" : "proxied", p[via][0],
                  p[via][1], p[via][2], p[via][3], failures);
    }
    added50.push_back(p[1][0] - p[0][0]);
    added99.push_back(p[1][2] - p[0][2]);
  }
  std::sort(added50.begin(), added50.end());
  std::sort(added99.begin(), added99.end());
  const double median99 = added99[added99.size() / 2];
  std::printf("  added by the proxy, median over rounds: p50 %.1f us, p99 %.1f us (range %.1f to %.1f)\n",
              added50[added50.size() / 2], median99, added99.front(), added99.back());
  std::printf("  floor: added p99 under 1 ms on loopback: %s\n", median99 < 1000 ? "met" : "NOT MET");
  app->reset();
  services->reset();
  std::error_code ec;
  std::filesystem::remove_all(root, ec);
  return 0;
}
