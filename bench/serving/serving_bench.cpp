// Streaming load on a running server (issue 4): N clients (N = 1, 4, 16)
// each send streamed completion requests with a fixed max_tokens, one after
// another on a keep-alive connection. For each N it prints the aggregate
// generated tokens/s, time to first token p50/p99, inter-token latency p99,
// and the server's overhead per streamed token beside the engine's own time
// per token, read from the server's /metrics (time inside Runner::Forward)
// over the same window. For reference it also runs the engine alone, in
// this process, decoding N sequences together (the server is idle then).
//
//   serving_bench --port P --key K --model ID --model-path FILE [--clients 1,4,16]
//                 [--seconds 15] [--warmup 3] [--max-tokens 64] [--temperature 1] [--threads 0]
//                 [--research-key K --research-rounds R]
//
// With --research-key (a key at level research), it instead measures, for
// each N, the streams' ITL p99 alone and while one researcher runs captures
// back to back (/v1/research/run capturing every hook_resid_post of a
// 128-token prompt), in R alternated rounds (issue 14: at most 2x).
//
// Definitions (also printed):
//   tok/s     completion tokens that reached the clients in the window / window
//   TTFT      request written -> first chunk with text (requests sent in the window)
//   ITL       gap between consecutive chunks with text of one request
//   overhead  (W - E) / E: W the window's wall time, E the engine time the
//             server's /metrics reports for the same window. Per streamed
//             token that is the time the server spends beyond the forward pass
//             (scheduler, sampling, JSON, HTTP, gaps between requests) over the
//             engine's own time per token. Split into "sched" ((step - E) / E,
//             inside scheduler steps) and "idle" ((W - step) / E, no step running).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "engine/model/benchmark.h"
#include "engine/model/llama_model.h"
#include "engine/model/runner.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace {

using Clock = std::chrono::steady_clock;
using Json = nlohmann::json;

double Sec(Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); }

// ---------------------------------------------------------------- HTTP client

// A blocking HTTP/1.1 connection that reads a chunked response piece by
// piece, so each server-sent event is timed when its bytes arrive.
class Connection {
 public:
  explicit Connection(uint16_t port) : port_(port) {}
  ~Connection() { Close(); }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    buf_.clear();
  }

  bool Ensure() {
    if (fd_ >= 0) return true;
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (fd_ < 0) return false;
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      Close();
      return false;
    }
    return true;
  }

  bool Write(const std::string& bytes) {
    size_t off = 0;
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // Reads more bytes into buf_; false on close, error or 60 s of silence.
  bool Fill() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 60000) <= 0) return false;
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }

  // Sends one request and reads the response head. Returns the status, or
  // 0 on a broken connection.
  int Start(const std::string& method, const std::string& target, const std::string& body, const std::string& key) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!Ensure()) return 0;
      std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, target);
      if (!key.empty()) req += "Authorization: Bearer " + key + "\r\n";
      if (!body.empty()) req += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
      req += "\r\n" + body;
      if (!Write(req)) {
        Close();  // a keep-alive connection the server closed: once more on a fresh one
        continue;
      }
      size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos) {
        if (!Fill()) break;
      }
      if (end == std::string::npos) {
        Close();
        continue;
      }
      std::string head = buf_.substr(0, end);
      buf_.erase(0, end + 4);
      absl::AsciiStrToLower(&head);
      chunked_ = head.find("transfer-encoding: chunked") != std::string::npos;
      content_left_ = 0;
      if (size_t cl = head.find("content-length:"); cl != std::string::npos) {
        content_left_ = std::strtoll(head.c_str() + cl + 15, nullptr, 10);
      }
      keep_alive_ = head.find("connection: close") == std::string::npos;
      if (head.size() < 12) return 0;
      return std::atoi(head.c_str() + 9);
    }
    return 0;
  }

  // The next piece of the body (a chunk's data); nullopt at the end of the
  // body (then the connection is ready for the next request) or on error.
  std::optional<std::string> NextPiece() {
    if (!chunked_) {
      if (content_left_ <= 0) return Finish();
      while (buf_.empty()) {
        if (!Fill()) return Fail();
      }
      std::string piece = buf_.substr(0, static_cast<size_t>(std::min<int64_t>(content_left_, buf_.size())));
      buf_.erase(0, piece.size());
      content_left_ -= static_cast<int64_t>(piece.size());
      return piece;
    }
    size_t eol;
    while ((eol = buf_.find("\r\n")) == std::string::npos) {
      if (!Fill()) return Fail();
    }
    const size_t size = std::strtoul(buf_.c_str(), nullptr, 16);
    while (buf_.size() < eol + 2 + size + 2) {
      if (!Fill()) return Fail();
    }
    std::string piece = buf_.substr(eol + 2, size);
    buf_.erase(0, eol + 2 + size + 2);
    if (size == 0) return Finish();
    return piece;
  }

  // Reads a whole body.
  std::optional<std::string> ReadBody() {
    std::string body;
    while (auto piece = NextPiece()) body += *piece;
    if (fd_ < 0 && !done_ok_) return std::nullopt;
    return body;
  }

 private:
  std::nullopt_t Finish() {
    done_ok_ = true;
    if (!keep_alive_) Close();
    return std::nullopt;
  }
  std::nullopt_t Fail() {
    done_ok_ = false;
    Close();
    return std::nullopt;
  }

  uint16_t port_;
  int fd_ = -1;
  std::string buf_;
  bool chunked_ = false;
  bool keep_alive_ = true;
  bool done_ok_ = false;
  int64_t content_left_ = 0;
};

// ---------------------------------------------------------------- /metrics

struct ServerCounters {
  double engine_seconds = 0, step_seconds = 0, steps = 0, tokens = 0, prompt_tokens = 0;
};

std::optional<ServerCounters> ReadCounters(uint16_t port) {
  Connection c(port);
  if (c.Start("GET", "/metrics", "", "") != 200) return std::nullopt;
  auto body = c.ReadBody();
  if (!body) return std::nullopt;
  auto value = [&](const std::string& name) -> std::optional<double> {
    const std::string line = "\n" + name + " ";
    size_t at = body->find(line);
    if (at == std::string::npos) return std::nullopt;
    return std::strtod(body->c_str() + at + line.size(), nullptr);
  };
  ServerCounters s;
  auto e = value("aperture_scheduler_engine_seconds_total");
  auto st = value("aperture_scheduler_step_seconds_total");
  auto n = value("aperture_scheduler_steps_total");
  auto t = value("aperture_scheduler_tokens_generated_total");
  auto p = value("aperture_scheduler_prompt_tokens_total");
  if (!e || !st || !n || !t || !p) return std::nullopt;
  return ServerCounters{*e, *st, *n, *t, *p};
}

// ---------------------------------------------------------------- load

struct RequestRecord {
  Clock::time_point sent;
  std::vector<Clock::time_point> text_chunks;  // arrival of each chunk with text
  int64_t completion_tokens = 0;
  bool ok = false;
};

struct Options {
  uint16_t port = 0;
  std::string key, model, model_path;
  std::vector<int> clients = {1, 4, 16};
  double seconds = 15, warmup = 3;
  int max_tokens = 64;
  double temperature = 1;
  int threads = 0;
  std::string research_key;  // set: compare the streams alone and beside captures
  int research_rounds = 3;
  std::string research_body;  // the capture request
};

// One streamed completion; fills `r`. Token 2 (EOS of the generated model)
// is banned with logit_bias so every request runs to max_tokens.
void StreamOne(Connection& c, const Options& o, uint64_t seed, RequestRecord& r) {
  const std::string body = Json{{"model", o.model},
                                {"prompt", "Once upon a time"},
                                {"max_tokens", o.max_tokens},
                                {"temperature", o.temperature},
                                {"seed", seed},
                                {"logit_bias", {{"2", -100}}},
                                {"stream", true},
                                {"stream_options", {{"include_usage", true}}}}
                               .dump();
  r.sent = Clock::now();
  const int status = c.Start("POST", "/v1/completions", body, o.key);
  if (status != 200) {
    if (status != 0) c.ReadBody();
    std::fprintf(stderr, "request failed: HTTP %d\n", status);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    return;
  }
  std::string sse;
  bool done = false;
  while (auto piece = c.NextPiece()) {
    const auto now = Clock::now();
    sse += *piece;
    size_t end;
    while ((end = sse.find("\n\n")) != std::string::npos) {
      std::string event = sse.substr(0, end);
      sse.erase(0, end + 2);
      if (event.rfind("data: ", 0) != 0) continue;
      event.erase(0, 6);
      if (event == "[DONE]") {
        done = true;
        continue;
      }
      Json j = Json::parse(event, nullptr, false);
      if (j.is_discarded()) continue;
      if (j.contains("usage") && j["usage"].is_object()) r.completion_tokens = j["usage"].value("completion_tokens", 0);
      if (j.contains("choices") && !j["choices"].empty() && !j["choices"][0].value("text", "").empty()) {
        r.text_chunks.push_back(now);
      }
    }
  }
  r.ok = done && r.completion_tokens > 0;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5))];
}

struct LoadResult {
  double tokens_per_s = 0, ttft_p50 = 0, ttft_p99 = 0, itl_p50 = 0, itl_p99 = 0;
  int requests = 0, failed = 0;
  double wall = 0;
  ServerCounters delta;
};

// A researcher running captures back to back until `stop`; counts those answered.
void ResearchLoop(const Options& o, const std::atomic<bool>& stop, std::atomic<int>& answered) {
  Connection c(o.port);
  while (!stop.load()) {
    const int status = c.Start("POST", "/v1/research/run", o.research_body, o.research_key);
    auto body = status != 0 ? c.ReadBody() : std::nullopt;
    // A capture of every hook_resid_post comes back as safetensors with its receipt in the header.
    if (status == 200 && body && body->find("receipt") != std::string::npos) {
      ++answered;
    } else {
      std::fprintf(stderr, "research request failed: HTTP %d %s\n", status, body ? body->substr(0, 200).c_str() : "");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
}

LoadResult RunLoad(const Options& o, int n, int* research_answered = nullptr) {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<RequestRecord> records;
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  std::thread researcher;
  if (research_answered != nullptr) researcher = std::thread([&] { ResearchLoop(o, stop, answered); });
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      Connection c(o.port);
      std::vector<RequestRecord> mine;
      for (uint64_t k = 0; !stop.load(); ++k) {
        RequestRecord r;
        StreamOne(c, o, (static_cast<uint64_t>(i) << 32) | k, r);
        mine.push_back(std::move(r));
      }
      std::lock_guard<std::mutex> lock(mu);
      for (auto& r : mine) records.push_back(std::move(r));
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.warmup));
  const auto before = ReadCounters(o.port);
  const auto w0 = Clock::now();
  std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
  const auto after = ReadCounters(o.port);
  const auto w1 = Clock::now();
  const int answered_in_window = answered.load();
  stop = true;
  for (auto& t : threads) t.join();
  if (researcher.joinable()) researcher.join();
  if (research_answered != nullptr) *research_answered = answered_in_window;

  LoadResult res;
  res.wall = Sec(w0, w1);
  if (before && after) {
    res.delta = {after->engine_seconds - before->engine_seconds, after->step_seconds - before->step_seconds,
                 after->steps - before->steps, after->tokens - before->tokens,
                 after->prompt_tokens - before->prompt_tokens};
  }
  std::vector<double> ttft, itl;
  double tokens_in_window = 0;
  for (const RequestRecord& r : records) {
    if (!r.ok) {
      ++res.failed;
      continue;
    }
    // Each chunk with text stands for completion_tokens / chunks tokens (a
    // token that ends inside a character adds its text to the next chunk).
    const double per_chunk = static_cast<double>(r.completion_tokens) / std::max<size_t>(1, r.text_chunks.size());
    for (size_t k = 0; k < r.text_chunks.size(); ++k) {
      const auto t = r.text_chunks[k];
      if (t < w0 || t >= w1) continue;
      tokens_in_window += per_chunk;
      if (k > 0) itl.push_back(Sec(r.text_chunks[k - 1], t));
    }
    if (r.sent >= w0 && r.sent < w1 && !r.text_chunks.empty()) {
      ++res.requests;
      ttft.push_back(Sec(r.sent, r.text_chunks.front()));
    }
  }
  res.tokens_per_s = tokens_in_window / res.wall;
  res.ttft_p50 = Percentile(ttft, 0.5);
  res.ttft_p99 = Percentile(ttft, 0.99);
  res.itl_p50 = Percentile(itl, 0.5);
  res.itl_p99 = Percentile(itl, 0.99);
  return res;
}

// The engine alone in this process: N sequences decoded together, tokens/s.
double EngineAlone(aperture::engine::Runner& runner, int n, int tokens) {
  aperture::engine::BenchOptions b;
  b.pp_tokens = 8;
  b.tg_tokens = tokens;
  b.batch_sequences = n > 1 ? n : 0;
  b.repetitions = 2;
  const auto r = aperture::engine::RunBenchmark(runner, b);
  return n > 1 ? r.batch_tokens_per_s : r.tg_tokens_per_s;
}

std::vector<int> ParseList(const std::string& s) {
  std::vector<int> out;
  size_t start = 0;
  while (start < s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(std::atoi(s.substr(start, end - start).c_str()));
    start = end + 1;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--port")
      o.port = static_cast<uint16_t>(std::atoi(v.c_str()));
    else if (a == "--key")
      o.key = v;
    else if (a == "--model")
      o.model = v;
    else if (a == "--model-path")
      o.model_path = v;
    else if (a == "--clients")
      o.clients = ParseList(v);
    else if (a == "--seconds")
      o.seconds = std::atof(v.c_str());
    else if (a == "--warmup")
      o.warmup = std::atof(v.c_str());
    else if (a == "--max-tokens")
      o.max_tokens = std::atoi(v.c_str());
    else if (a == "--temperature")
      o.temperature = std::atof(v.c_str());
    else if (a == "--threads")
      o.threads = std::atoi(v.c_str());
    else if (a == "--research-key")
      o.research_key = v;
    else if (a == "--research-rounds")
      o.research_rounds = std::max(1, std::atoi(v.c_str()));
    else {
      std::fprintf(stderr, "unknown argument %s\n", a.c_str());
      return 2;
    }
  }
  if (o.port == 0 || o.model.empty() || o.model_path.empty() || o.clients.empty()) {
    std::fprintf(stderr,
                 "usage: serving_bench --port P --key K --model ID --model-path FILE [--clients 1,4,16] "
                 "[--seconds 15] [--warmup 3] [--max-tokens 64] [--temperature 1] [--threads 0]\n");
    return 2;
  }
  if (!ReadCounters(o.port)) {
    std::fprintf(stderr, "GET /metrics on port %d lacks the scheduler's counters\n", o.port);
    return 1;
  }
  auto model = aperture::engine::LlamaModel::Load(o.model_path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  aperture::engine::Runner runner(**model, {.threads = o.threads});
  if (!o.research_key.empty()) {
    Json ids = Json::array();
    for (int i = 0; i < 128; ++i) ids.push_back(1 + (i * 7919) % ((*model)->config().vocab_size - 1));
    o.research_body =
        Json{{"model", o.model}, {"input", ids}, {"capture", {"blocks.*.hook_resid_post"}}, {"format", "safetensors"}}
            .dump();
    std::printf(
        "streams beside captures: N streamed completions (max_tokens %d), alone and while one researcher runs "
        "/v1/research/run capturing every hook_resid_post of a 128-token prompt back to back; %.0f s "
        "warm-up + %.0f s window, %d alternated rounds\n",
        o.max_tokens, o.warmup, o.seconds, o.research_rounds);
    std::printf("%3s | %5s | %12s %12s | %12s %12s | %9s\n", "N", "round", "ITL p50 alone", "p99 alone", "p50 captures",
                "p99 captures", "captures");
    bool all_met = true;
    for (int n : o.clients) {
      std::vector<double> alone_p99, loaded_p99;
      for (int round = 0; round < o.research_rounds; ++round) {
        const LoadResult a = RunLoad(o, n);
        int captures = 0;
        const LoadResult b = RunLoad(o, n, &captures);
        alone_p99.push_back(a.itl_p99);
        loaded_p99.push_back(b.itl_p99);
        std::printf("%3d | %5d | %10.1fms %10.1fms | %10.1fms %10.1fms | %9d\n", n, round + 1, a.itl_p50 * 1e3,
                    a.itl_p99 * 1e3, b.itl_p50 * 1e3, b.itl_p99 * 1e3, captures);
        std::fflush(stdout);
      }
      std::sort(alone_p99.begin(), alone_p99.end());
      std::sort(loaded_p99.begin(), loaded_p99.end());
      const double ratio = loaded_p99[loaded_p99.size() / 2] / std::max(1e-9, alone_p99[alone_p99.size() / 2]);
      all_met = all_met && ratio < 2;
      std::printf("floor: N=%d, median ITL p99 beside captures / alone = %.2fx (floor: under 2x): %s\n", n, ratio,
                  ratio < 2 ? "met" : "NOT MET");
    }
    (void)all_met;
    return 0;
  }

  std::printf("streamed completions, max_tokens %d, temperature %g, EOS banned; %.0f s warm-up + %.0f s window per N\n",
              o.max_tokens, o.temperature, o.warmup, o.seconds);
  std::printf("%3s | %8s %7s | %8s %8s | %7s %7s | %6s %8s %8s | %8s %6s %6s | %10s %7s\n", "N", "tok/s", "req",
              "TTFT p50", "TTFT p99", "ITL p50", "ITL p99", "tok/st", "wall/st", "eng/st", "overhead", "sched", "idle",
              "engine alone", "srv/eng");
  std::map<int, double> tps;
  std::map<int, double> overhead;
  for (int n : o.clients) {
    const double alone = EngineAlone(runner, n, o.max_tokens);
    const LoadResult r = RunLoad(o, n);
    const ServerCounters& d = r.delta;
    const double steps = std::max(1.0, d.steps);
    const double oh = d.engine_seconds > 0 ? (r.wall - d.engine_seconds) / d.engine_seconds : 0;
    tps[n] = r.tokens_per_s;
    overhead[n] = oh;
    std::printf(
        "%3d | %8.1f %7d | %6.1fms %6.1fms | %5.1fms %5.1fms | %6.2f %6.2fms %6.2fms | %7.1f%% %5.1f%% %5.1f%% | %6.1f "
        "tok/s "
        "%6.2f\n",
        n, r.tokens_per_s, r.requests, r.ttft_p50 * 1e3, r.ttft_p99 * 1e3, r.itl_p50 * 1e3, r.itl_p99 * 1e3,
        d.tokens / steps, r.wall / steps * 1e3, d.engine_seconds / steps * 1e3, 100 * oh,
        100 * (d.step_seconds - d.engine_seconds) / std::max(1e-9, d.engine_seconds),
        100 * (r.wall - d.step_seconds) / std::max(1e-9, d.engine_seconds), alone, r.tokens_per_s / alone);
    if (r.failed > 0) std::printf("    %d requests failed\n", r.failed);
    std::fflush(stdout);
  }
  std::printf(
      "\ntok/s: completion tokens received in the window; TTFT: request sent -> first text; ITL: between texts "
      "of one stream.\ntok/st, wall/st, eng/st: tokens, wall time and engine (Runner::Forward) time per scheduler "
      "step, from /metrics over the window.\noverhead = (window wall time - engine time) / engine time: the server's "
      "time per streamed token beyond the engine's own, over the engine's;\n  sched = inside steps (sampling, "
      "text, callbacks), idle = outside steps (HTTP, admission, gaps between requests).\nengine alone: this "
      "process decoding N sequences together with the server idle; srv/eng = server tok/s / engine alone tok/s "
      "(below 1 also when\n  HTTP threads and the clients take cores from the engine, and with noise from "
      "other work on the machine).\n");
  if (tps.count(1) && tps.count(4) && tps[1] > 0) {
    const double ratio = tps[4] / tps[1];
    std::printf("floor: aggregate tok/s at N=4 / N=1 = %.2fx (floor 2x): %s\n", ratio, ratio >= 2 ? "met" : "NOT MET");
  }
  double worst = 0;
  for (const auto& [n, oh] : overhead) worst = std::max(worst, oh);
  std::printf("floor: server overhead per streamed token, worst over N = %.1f%% of the engine's time (floor 5%%): %s\n",
              100 * worst, worst < 0.05 ? "met" : "NOT MET");
  return 0;
}
