// An open-loop HTTP/1.1 load generator at a fixed request rate, for the
// pipeline's latency floor (issue 2), in the manner of wrk2.
//
//   pipeline_loadgen --port P [--host 127.0.0.1] [--path /v1/models]
//                    [--header "Authorization: Bearer ak_..."]...
//                    [--rate 10000] [--threads 2] [--connections 16]
//                    [--warmup 2] [--duration 10] [--drain 5] [--kv]
//
// The total rate R is split over the threads: global request k is due at
// t0 + k / R and belongs to thread k mod T, so the threads' schedules
// interleave evenly. Each thread owns connections/T keep-alive connections
// and an epoll set, and sends each request when it falls due on any idle
// connection (one request in flight per connection, no pipelining). When
// every connection is busy, due requests wait in a backlog and go out as
// connections free up. A request's latency runs from its *intended* send time
// to the last byte of its response, so time spent waiting for the server to
// catch up is counted (coordinated omission corrected); the latency from the
// actual send (what a closed-loop client such as wrk reports) is printed
// beside it.
//
// Requests due during the warm-up are sent but not counted; those due in the
// following `duration` seconds are measured; then the generator waits up to
// `drain` seconds for the measured requests still outstanding (any left are
// reported as timed out). Latencies are kept exactly (one per request) and
// sorted at the end.
//
// Minimal CPU per request, since the generator shares the machine with the
// server: raw non-blocking sockets, one write and usually one read per
// request, and epoll_pwait2 with a nanosecond timeout as the only timer
// (timer slack lowered to 1 ns so wake-ups land on schedule).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Options {
  std::string host = "127.0.0.1";
  int port = 0;
  std::string path = "/v1/models";
  std::vector<std::string> headers;
  double rate = 10000;
  int threads = 2;
  int connections = 16;
  double warmup_s = 2;
  double duration_s = 10;
  double drain_s = 5;
  bool kv = false;
};

[[noreturn]] void Usage(const char* message) {
  std::fprintf(stderr,
               "pipeline_loadgen: %s\n"
               "usage: pipeline_loadgen --port P [--host H] [--path /x] [--header 'Name: value']...\n"
               "         [--rate R] [--threads T] [--connections C] [--warmup S] [--duration S] [--drain S] [--kv]\n",
               message);
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) Usage("missing value");
      return argv[++i];
    };
    if (a == "--host") {
      o.host = value();
    } else if (a == "--port") {
      o.port = std::atoi(value());
    } else if (a == "--path") {
      o.path = value();
    } else if (a == "--header" || a == "-H") {
      o.headers.emplace_back(value());
    } else if (a == "--rate") {
      o.rate = std::atof(value());
    } else if (a == "--threads") {
      o.threads = std::atoi(value());
    } else if (a == "--connections") {
      o.connections = std::atoi(value());
    } else if (a == "--warmup") {
      o.warmup_s = std::atof(value());
    } else if (a == "--duration") {
      o.duration_s = std::atof(value());
    } else if (a == "--drain") {
      o.drain_s = std::atof(value());
    } else if (a == "--kv") {
      o.kv = true;
    } else {
      Usage("unknown argument");
    }
  }
  if (o.port <= 0 || o.port > 65535) Usage("--port is required");
  if (o.rate <= 0 || o.threads <= 0 || o.duration_s <= 0 || o.warmup_s < 0 || o.drain_s < 0) Usage("bad value");
  if (o.connections < o.threads) Usage("--connections must be at least --threads");
  return o;
}

// What one thread measured.
struct Result {
  std::vector<int64_t> latency_ns;  // from the intended send time (corrected)
  std::vector<int64_t> service_ns;  // from the actual send time (uncorrected)
  std::vector<int64_t> lag_ns;      // actual send - intended: waiting for the client or a free connection
  int64_t completed_in_window = 0;  // responses that arrived during the measured window, any request
  int64_t non_200 = 0;              // measured requests answered with another status
  int64_t failed = 0;               // measured requests lost to a connection error or a bad response
  int64_t timed_out = 0;            // measured requests unanswered (or unsent) when the drain ended
  int64_t reconnects = 0;
  int64_t max_backlog = 0;
  int64_t sent = 0;  // every request sent, warm-up included
  bool setup_failed = false;
};

// Parses one HTTP/1.1 response from the start of `buf`. Returns the number of
// bytes it spans once complete, 0 while incomplete, -1 when malformed.
// Handles Content-Length and chunked bodies.
int64_t ParseResponse(std::string_view buf, int* status, bool* close) {
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) return buf.size() > 64 * 1024 ? -1 : 0;
  std::string_view head = buf.substr(0, head_end + 2);
  if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return -1;
  *status = std::atoi(std::string(head.substr(9, 3)).c_str());
  *close = false;
  int64_t content_length = -1;
  bool chunked = false;
  size_t pos = head.find("\r\n") + 2;
  while (pos < head.size()) {
    size_t eol = head.find("\r\n", pos);
    std::string_view line = head.substr(pos, eol - pos);
    pos = eol + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = line.substr(0, colon);
    auto is = [name](std::string_view want) {
      return name.size() == want.size() && strncasecmp(name.data(), want.data(), want.size()) == 0;
    };
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
    if (is("content-length")) {
      content_length = std::strtoll(std::string(v).c_str(), nullptr, 10);
    } else if (is("transfer-encoding")) {
      chunked = v.find("chunked") != std::string_view::npos;
    } else if (is("connection")) {
      *close = v.find("close") != std::string_view::npos;
    }
  }
  size_t body = head_end + 4;
  if (!chunked) {
    if (content_length < 0) content_length = 0;  // no body framing on a keep-alive answer
    return buf.size() >= body + content_length ? static_cast<int64_t>(body + content_length) : 0;
  }
  for (;;) {
    size_t eol = buf.find("\r\n", body);
    if (eol == std::string_view::npos) return 0;
    int64_t size = std::strtoll(std::string(buf.substr(body, eol - body)).c_str(), nullptr, 16);
    if (size < 0) return -1;
    body = eol + 2;
    if (size == 0) {  // last chunk; no trailers expected
      return buf.size() >= body + 2 ? static_cast<int64_t>(body + 2) : 0;
    }
    if (buf.size() < body + size + 2) return 0;
    body += size + 2;
  }
}

class Worker {
 public:
  Worker(const Options& o, int index, sockaddr_in addr, int64_t t0, std::string request)
      : o_(o), index_(index), addr_(addr), t0_(t0), request_(std::move(request)) {}

  Result Run() {
    prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    int n = o_.connections / o_.threads + (index_ < o_.connections % o_.threads ? 1 : 0);
    conns_.resize(n);
    for (int i = 0; i < n; ++i) {
      if (!Connect(i)) {
        result_.setup_failed = true;
        return std::move(result_);
      }
      idle_.push_back(i);
    }
    const int64_t measure_start = t0_ + static_cast<int64_t>(o_.warmup_s * 1e9);
    const int64_t measure_end = measure_start + static_cast<int64_t>(o_.duration_s * 1e9);
    measure_start_ = measure_start;
    measure_end_ = measure_end;
    // This thread's requests: global indexes index_, index_ + T, ... due before measure_end.
    const int64_t total_global = static_cast<int64_t>(std::ceil((measure_end - t0_) * 1e-9 * o_.rate));
    const int64_t total = total_global > index_ ? (total_global - index_ + o_.threads - 1) / o_.threads : 0;
    const int64_t deadline = measure_end + static_cast<int64_t>(o_.drain_s * 1e9);
    const size_t expect = static_cast<size_t>(o_.rate * o_.duration_s / o_.threads * 1.05) + 16;
    result_.latency_ns.reserve(expect);
    result_.service_ns.reserve(expect);
    result_.lag_ns.reserve(expect);

    int64_t due = 0;   // requests [0, due) have fallen due
    int64_t sent = 0;  // requests [0, sent) have been sent
    epoll_event events[64];
    for (;;) {
      int64_t now = NowNs();
      while (due < total && Intended(due) <= now) ++due;
      while (sent < due && !idle_.empty()) {
        int c = idle_.back();
        idle_.pop_back();
        Send(c, Intended(sent), now);
        ++sent;
      }
      result_.max_backlog = std::max(result_.max_backlog, due - sent);
      if (sent == total && idle_.size() == conns_.size()) break;
      if (now >= deadline) break;
      int64_t wake = due < total ? Intended(due) : deadline;
      if (sent < due) wake = deadline;  // nothing to do until a connection frees up
      int64_t wait = std::max<int64_t>(0, wake - now);
      timespec ts{static_cast<time_t>(wait / 1'000'000'000), static_cast<long>(wait % 1'000'000'000)};
      int ready = epoll_pwait2(ep_, events, 64, &ts, nullptr);
      if (ready < 0) {
        if (errno == EINTR) continue;
        std::perror("epoll_pwait2");
        std::exit(1);
      }
      for (int e = 0; e < ready; ++e) OnEvent(static_cast<int>(events[e].data.u32), events[e].events);
    }
    result_.sent = sent;
    // Whatever is still in flight or never went out was due in the window or
    // the warm-up; count the measured ones.
    for (auto& c : conns_) {
      if (c.busy && Measured(c.intended)) ++result_.timed_out;
    }
    for (int64_t i = sent; i < total; ++i) {
      if (Measured(Intended(i))) ++result_.timed_out;
    }
    for (auto& c : conns_) {
      if (c.fd >= 0) close(c.fd);
    }
    close(ep_);
    return std::move(result_);
  }

 private:
  struct Conn {
    int fd = -1;
    bool busy = false;
    int64_t intended = 0;
    int64_t sent = 0;
    size_t written = 0;
    std::string in;
  };

  int64_t Intended(int64_t i) const {
    int64_t k = i * o_.threads + index_;
    return t0_ + static_cast<int64_t>(static_cast<double>(k) * 1e9 / o_.rate);
  }
  bool Measured(int64_t intended) const { return intended >= measure_start_ && intended < measure_end_; }

  bool Connect(int i) {
    Conn& c = conns_[i];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0 || connect(c.fd, reinterpret_cast<const sockaddr*>(&addr_), sizeof(addr_)) != 0) {
      std::perror("connect");
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
      return false;
    }
    int one = 1;
    setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
    c.in.clear();
    c.in.reserve(4096);
    return true;
  }

  void Send(int i, int64_t intended, int64_t now) {
    Conn& c = conns_[i];
    c.busy = true;
    c.intended = intended;
    c.sent = now;
    c.written = 0;
    if (Measured(intended)) result_.lag_ns.push_back(now - intended);
    Write(i);
  }

  void Write(int i) {
    Conn& c = conns_[i];
    while (c.written < request_.size()) {
      ssize_t w = send(c.fd, request_.data() + c.written, request_.size() - c.written, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
          epoll_event ev{};
          ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
          ev.data.u32 = static_cast<uint32_t>(i);
          epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
          return;
        }
        Fail(i);
        return;
      }
      c.written += static_cast<size_t>(w);
    }
  }

  void OnEvent(int i, uint32_t events) {
    Conn& c = conns_[i];
    if (c.fd < 0) return;
    if ((events & EPOLLOUT) && c.busy && c.written < request_.size()) {
      Write(i);
      if (c.written == request_.size()) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.u32 = static_cast<uint32_t>(i);
        epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      }
    }
    if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
    char buf[16384];
    for (;;) {
      ssize_t r = recv(c.fd, buf, sizeof(buf), 0);
      if (r > 0) {
        c.in.append(buf, static_cast<size_t>(r));
        if (static_cast<size_t>(r) < sizeof(buf)) break;
        continue;
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && errno == EAGAIN) break;
      Fail(i);  // EOF or error: the connection is gone
      return;
    }
    if (!c.busy) {
      if (!c.in.empty()) Fail(i);  // bytes nobody asked for
      return;
    }
    int status = 0;
    bool close_after = false;
    int64_t n = ParseResponse(c.in, &status, &close_after);
    if (n == 0) return;
    if (n < 0 || static_cast<size_t>(n) != c.in.size()) {
      Fail(i);
      return;
    }
    int64_t now = NowNs();
    if (now >= measure_start_ && now < measure_end_) ++result_.completed_in_window;
    if (Measured(c.intended)) {
      result_.latency_ns.push_back(now - c.intended);
      result_.service_ns.push_back(now - c.sent);
      if (status != 200) ++result_.non_200;
    }
    c.in.clear();
    c.busy = false;
    if (close_after) {
      Reconnect(i);
      return;
    }
    idle_.push_back(i);
  }

  // The connection broke (or answered nonsense): its request is lost; open a
  // new one so the schedule goes on.
  void Fail(int i) {
    Conn& c = conns_[i];
    if (c.busy && Measured(c.intended)) ++result_.failed;
    c.busy = false;
    Reconnect(i);
  }

  void Reconnect(int i) {
    Conn& c = conns_[i];
    epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
    close(c.fd);
    c.fd = -1;
    ++result_.reconnects;
    if (Connect(i)) idle_.push_back(i);
  }

  const Options& o_;
  const int index_;
  const sockaddr_in addr_;
  const int64_t t0_;
  const std::string request_;
  int64_t measure_start_ = 0;
  int64_t measure_end_ = 0;
  int ep_ = -1;
  std::vector<Conn> conns_;
  std::vector<int> idle_;
  Result result_;
};

double Percentile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size())));
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return static_cast<double>(sorted[rank - 1]) / 1e6;  // ms
}

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(o.port));
  if (inet_pton(AF_INET, o.host.c_str(), &addr.sin_addr) != 1) Usage("--host must be an IPv4 address");

  std::string request = "GET " + o.path + " HTTP/1.1\r\nHost: " + o.host + ":" + std::to_string(o.port) + "\r\n";
  for (const auto& h : o.headers) request += h + "\r\n";
  request += "\r\n";

  // Start a little ahead so every thread has its connections open by t0.
  const int64_t t0 = NowNs() + 100'000'000;
  std::vector<Result> results(o.threads);
  std::vector<std::thread> threads;
  double cpu_before = CpuSeconds();
  for (int t = 0; t < o.threads; ++t) {
    threads.emplace_back([&, t] { results[t] = Worker(o, t, addr, t0, request).Run(); });
  }
  for (auto& th : threads) th.join();
  double cpu = CpuSeconds() - cpu_before;

  Result all;
  for (auto& r : results) {
    if (r.setup_failed) {
      std::fprintf(stderr, "pipeline_loadgen: could not connect to %s:%d\n", o.host.c_str(), o.port);
      return 1;
    }
    all.latency_ns.insert(all.latency_ns.end(), r.latency_ns.begin(), r.latency_ns.end());
    all.service_ns.insert(all.service_ns.end(), r.service_ns.begin(), r.service_ns.end());
    all.lag_ns.insert(all.lag_ns.end(), r.lag_ns.begin(), r.lag_ns.end());
    all.completed_in_window += r.completed_in_window;
    all.non_200 += r.non_200;
    all.failed += r.failed;
    all.timed_out += r.timed_out;
    all.reconnects += r.reconnects;
    all.max_backlog = std::max(all.max_backlog, r.max_backlog);
    all.sent += r.sent;
  }
  std::sort(all.latency_ns.begin(), all.latency_ns.end());
  std::sort(all.service_ns.begin(), all.service_ns.end());
  std::sort(all.lag_ns.begin(), all.lag_ns.end());
  const auto& l = all.latency_ns;
  const double achieved = static_cast<double>(all.completed_in_window) / o.duration_s;
  const int64_t errors = all.non_200 + all.failed + all.timed_out;
  const int64_t requests = static_cast<int64_t>(l.size()) + all.failed + all.timed_out;
  double mean = 0;
  for (int64_t v : l) mean += static_cast<double>(v);
  mean = l.empty() ? 0 : mean / static_cast<double>(l.size()) / 1e6;
  const double cpu_us = all.sent > 0 ? cpu * 1e6 / static_cast<double>(all.sent) : 0;

  if (o.kv) {
    std::printf(
        "rate=%.0f achieved=%.0f requests=%lld p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f mean=%.3f "
        "uncorrected_p50=%.3f uncorrected_p99=%.3f lag_p99=%.3f max_backlog=%lld non_200=%lld failed=%lld "
        "timed_out=%lld errors=%lld reconnects=%lld client_cpu_us=%.2f client_cpu_s=%.3f\n",
        o.rate, achieved, static_cast<long long>(requests), Percentile(l, 0.50), Percentile(l, 0.90),
        Percentile(l, 0.99), Percentile(l, 0.999), Percentile(l, 1.0), mean, Percentile(all.service_ns, 0.50),
        Percentile(all.service_ns, 0.99), Percentile(all.lag_ns, 0.99), static_cast<long long>(all.max_backlog),
        static_cast<long long>(all.non_200), static_cast<long long>(all.failed), static_cast<long long>(all.timed_out),
        static_cast<long long>(errors), static_cast<long long>(all.reconnects), cpu_us, cpu);
    return 0;
  }
  std::printf("open loop, %.0f req/s over %d threads x %d connections total, %.0fs warm-up + %.0fs measured\n", o.rate,
              o.threads, o.connections, o.warmup_s, o.duration_s);
  std::printf("  achieved           %.0f req/s (%lld measured requests)\n", achieved, static_cast<long long>(requests));
  std::printf("  latency from the intended send (ms): p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f  max %.3f  mean %.3f\n",
              Percentile(l, 0.50), Percentile(l, 0.90), Percentile(l, 0.99), Percentile(l, 0.999), Percentile(l, 1.0),
              mean);
  std::printf("  latency from the actual send (ms, uncorrected): p50 %.3f  p99 %.3f\n",
              Percentile(all.service_ns, 0.50), Percentile(all.service_ns, 0.99));
  std::printf("  send lag p99 %.3f ms, max backlog %lld\n", Percentile(all.lag_ns, 0.99),
              static_cast<long long>(all.max_backlog));
  std::printf("  errors %lld (non-200 %lld, failed %lld, timed out %lld), reconnects %lld\n",
              static_cast<long long>(errors), static_cast<long long>(all.non_200), static_cast<long long>(all.failed),
              static_cast<long long>(all.timed_out), static_cast<long long>(all.reconnects));
  std::printf("  client CPU %.2f us per request\n", cpu_us);
  return errors > 0 ? 3 : 0;
}
