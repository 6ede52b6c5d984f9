// The soak and the crash loops behind `make soak` (not part of `make test`):
//
// 1. Saturation: `aperture serve` on a fresh data directory with the small
//    stories model, driven for --seconds (600) by --connections closed-loop
//    workers sending a mix of traffic: whole and streamed chats (some
//    streams cut off by the client), embeddings, model lists, wrong keys,
//    oversized bodies, malformed JSON, random bytes and slow clients that
//    dribble their headers. Pass marks: the process never dies; no 5xx but
//    503 with Retry-After; peak RSS after the first minute within 10% of
//    the RSS at one minute; every answer's X-Request-Id is in the log; the
//    log verifies from scratch (`aperture log verify`).
// 2. Crash loops: --kill-loops (50) times, under the same mix, the server is
//    killed with SIGKILL at a random moment, `PRAGMA integrity_check` runs
//    on the database, the server is restarted, the log verifies from
//    scratch, and the tree at the size of the last checkpoint a client saw
//    before the kill still has that checkpoint's root (no entry a client
//    saw covered is lost).
//
// Every figure is printed beside its pass mark; the exit status is 0 only
// when all pass.
//
//   aperture_soak --aperture build/aperture --model ../shared/models/stories260K.gguf
//                 [--seconds 600] [--kill-loops 50] [--connections 24]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/base64.h"
#include "core/json.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "fmt/format.h"
#include "http/test_client.h"
#include "store/sqlite/sqlite_log_store.h"
#include "translog/entry.h"
#include "translog/log_reader.h"
#include "translog/merkle.h"

namespace aperture::soak {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

struct Options {
  std::string aperture;
  std::string model;
  int seconds = 600;
  int kill_loops = 50;
  int connections = 24;
};

// Runs a command; its exit status and standard output.
std::pair<int, std::string> Run(const std::string& command) {
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return {-1, ""};
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, pipe)) out.append(buf, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// `aperture serve` as a child process on a free port.
class Server {
 public:
  Server(const Options& o, const std::string& data, const std::string& config, const std::string& log) {
    int out[2];
    if (::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(out[1], STDOUT_FILENO);
      if (FILE* err = std::fopen(log.c_str(), "a")) ::dup2(::fileno(err), STDERR_FILENO);
      ::close(out[0]);
      ::close(out[1]);
      ::execl(o.aperture.c_str(), o.aperture.c_str(), "serve", "--data", data.c_str(), "--listen", "127.0.0.1:0",
              "--config", config.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1) {
      if (c != '\n') {
        line += c;
      } else if (line.find("listening on http://") != std::string::npos) {
        break;
      } else {
        line.clear();
      }
    }
    out_fd_ = out[0];  // kept open: a server writing to a closed pipe would die of SIGPIPE
    const size_t colon = line.rfind(':');
    if (colon != std::string::npos) port_ = static_cast<uint16_t>(std::atoi(line.c_str() + colon + 1));
  }
  ~Server() { Stop(SIGTERM); }

  bool Alive() const {
    if (pid_ <= 0) return false;
    int status = 0;
    return ::waitpid(pid_, &status, WNOHANG) == 0;
  }
  void Stop(int signal) {
    if (pid_ <= 0) return;
    ::kill(pid_, signal);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    ::close(out_fd_);
  }
  // Resident memory now, in KiB (0 if unknown).
  int64_t RssKib() const {
    std::ifstream in(fmt::format("/proc/{}/status", pid_));
    std::string key;
    while (in >> key) {
      if (key == "VmRSS:") {
        int64_t kib = 0;
        in >> kib;
        return kib;
      }
      in.ignore(1 << 16, '\n');
    }
    return 0;
  }
  uint16_t port() const { return port_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  uint16_t port_ = 0;
};

// The kinds of traffic, and how often each is sent (weights).
enum class Kind { kChat, kStream, kCutStream, kEmbed, kModels, kWrongKey, kOversized, kBadJson, kRandomBytes, kSlow };
constexpr std::pair<Kind, int> kMix[] = {
    {Kind::kChat, 22},    {Kind::kStream, 12},   {Kind::kCutStream, 6}, {Kind::kEmbed, 6},       {Kind::kModels, 20},
    {Kind::kWrongKey, 8}, {Kind::kOversized, 4}, {Kind::kBadJson, 10},  {Kind::kRandomBytes, 6}, {Kind::kSlow, 6},
};
const char* Name(Kind k) {
  switch (k) {
    case Kind::kChat:
      return "chat";
    case Kind::kStream:
      return "stream";
    case Kind::kCutStream:
      return "stream cut off";
    case Kind::kEmbed:
      return "embeddings";
    case Kind::kModels:
      return "models";
    case Kind::kWrongKey:
      return "wrong key";
    case Kind::kOversized:
      return "oversized body";
    case Kind::kBadJson:
      return "malformed JSON";
    case Kind::kRandomBytes:
      return "random bytes";
    case Kind::kSlow:
      return "slow client";
  }
  return "?";
}

// What the workers saw, shared.
struct Tally {
  std::mutex mu;
  std::map<std::string, std::map<int, int64_t>> statuses;  // kind -> status -> count
  int64_t answered = 0;
  int64_t failures = 0;  // 5xx other than 503 with Retry-After, or a valid request without an answer
  std::vector<std::string> failure_examples;
  std::vector<std::string> request_ids;  // every answer's X-Request-Id
  std::vector<double> probe_ms;          // GET /v1/models latency under load

  void Add(Kind kind, const http::TestResponse& r) {
    std::lock_guard<std::mutex> lock(mu);
    ++statuses[Name(kind)][r.status];
    ++answered;
    if (auto id = r.Header("x-request-id")) request_ids.push_back(*id);
    const bool overloaded = r.status == 503 && r.Header("retry-after").has_value();
    if (r.status >= 500 && !overloaded) Fail(fmt::format("{}: {} {}", Name(kind), r.status, r.body.substr(0, 200)));
  }
  void Fail(std::string what) {
    ++failures;
    if (failure_examples.size() < 10) failure_examples.push_back(std::move(what));
  }
  void NoAnswer(Kind kind) {
    std::lock_guard<std::mutex> lock(mu);
    ++statuses[Name(kind)][0];
    // Only valid requests owe an answer: the others may be closed on.
    if (kind == Kind::kChat || kind == Kind::kStream || kind == Kind::kEmbed || kind == Kind::kModels) {
      Fail(fmt::format("{}: no answer", Name(kind)));
    }
  }
};

class Traffic {
 public:
  Traffic(uint16_t port, std::string key, Tally& tally, uint64_t seed)
      : port_(port), key_(std::move(key)), tally_(tally), rng_(seed) {}

  void RunUntil(const std::atomic<bool>& stop) {
    int total = 0;
    for (const auto& [kind, weight] : kMix) total += weight;
    while (!stop.load()) {
      int pick = std::uniform_int_distribution<int>(0, total - 1)(rng_);
      Kind kind = Kind::kChat;
      for (const auto& [k, weight] : kMix) {
        if (pick < weight) {
          kind = k;
          break;
        }
        pick -= weight;
      }
      One(kind);
    }
  }

 private:
  std::vector<std::string> Auth() const { return {"Authorization: Bearer " + key_}; }

  // A keep-alive connection for the valid requests, opened again after a close.
  http::TestClient* Conn() {
    if (!conn_) conn_ = http::TestClient::Connect(port_);
    return conn_.get();
  }

  void Exchange(Kind kind, const std::string& method, const std::string& target, const std::string& body,
                std::vector<std::string> headers) {
    http::TestClient* c = Conn();
    if (c == nullptr || !c->SendRequest(method, target, body, headers)) {
      conn_.reset();
      return tally_.NoAnswer(kind);
    }
    auto r = c->ReadResponse(seconds(120));
    if (!r) {
      conn_.reset();
      return tally_.NoAnswer(kind);
    }
    if (!r->keep_alive) conn_.reset();
    tally_.Add(kind, *r);
  }

  // A request on a connection of its own, closed after the answer.
  void OneShot(Kind kind, const std::string& bytes) {
    auto c = http::TestClient::Connect(port_);
    if (!c || !c->Send(bytes)) return tally_.NoAnswer(kind);
    auto r = c->ReadResponse(seconds(30));
    if (!r) return tally_.NoAnswer(kind);
    tally_.Add(kind, *r);
  }

  std::string Words(int n) {
    static const char* kWords[] = {"Once",  "upon", "a",   "time", "there", "was",  "a",   "little", "dog",  "who",
                                   "liked", "to",   "run", "in",   "the",   "park", "and", "play",   "with", "ball"};
    std::string out;
    for (int i = 0; i < n; ++i) out += std::string(i ? " " : "") + kWords[rng_() % std::size(kWords)];
    return out;
  }

  void One(Kind kind) {
    const std::string chat =
        fmt::format(R"({{"model":"tiny","messages":[{{"role":"user","content":"{}"}}],"max_tokens":16{}}})", Words(6),
                    kind == Kind::kChat ? "" : R"(,"stream":true)");
    switch (kind) {
      case Kind::kChat:
      case Kind::kStream:
        return Exchange(kind, "POST", "/v1/chat/completions", chat, Auth());
      case Kind::kCutStream: {
        auto c = http::TestClient::Connect(port_);
        if (!c || !c->SendRequest("POST", "/v1/chat/completions", chat, Auth())) return tally_.NoAnswer(kind);
        // Leave after the first event, mid-stream.
        if (!c->ReadUntil("data: ", seconds(60))) return tally_.NoAnswer(kind);
        std::lock_guard<std::mutex> lock(tally_.mu);
        ++tally_.statuses[Name(kind)][200];
        return;  // the answer's id is checked through the whole requests; this one is cut short
      }
      case Kind::kEmbed:
        return Exchange(kind, "POST", "/v1/embeddings",
                        fmt::format(R"({{"model":"tiny","input":["{}","{}"]}})", Words(4), Words(5)), Auth());
      case Kind::kModels:
        return Exchange(kind, "GET", "/v1/models", "", Auth());
      case Kind::kWrongKey:
        return Exchange(kind, "GET", "/v1/models", "", {"Authorization: Bearer ak_" + RandomToken(36)});
      case Kind::kOversized:
        return OneShot(kind, http::TestClient::FormatRequest("POST", "/v1/chat/completions",
                                                             std::string(2 * 1024 * 1024, 'x'), Auth()));
      case Kind::kBadJson:
        return Exchange(kind, "POST", "/v1/chat/completions", R"({"model":"tiny","messages":[)", Auth());
      case Kind::kRandomBytes: {
        std::string bytes(std::uniform_int_distribution<int>(1, 600)(rng_), '\0');
        for (char& b : bytes) b = static_cast<char>(rng_());
        auto c = http::TestClient::Connect(port_);
        if (!c || !c->Send(bytes + "\r\n\r\n")) return;
        if (auto r = c->ReadResponse(seconds(30))) tally_.Add(kind, *r);  // or closed: either is fine
        return;
      }
      case Kind::kSlow: {
        // Dribbles a whole request a byte every 10-40 ms: short ones make it
        // within the header deadline, long ones are cut off with 408.
        const std::string bytes =
            http::TestClient::FormatRequest("GET", "/v1/models", "", {"X-Padding: " + std::string(rng_() % 120, 'p')});
        auto c = http::TestClient::Connect(port_);
        if (!c) return tally_.NoAnswer(kind);
        const int pause = 10 + static_cast<int>(rng_() % 30);
        for (char b : bytes) {
          if (!c->Send(std::string(1, b))) break;
          if (c->ReadUntil("HTTP/1.1", milliseconds(0))) break;  // answered (408) before the end
          std::this_thread::sleep_for(milliseconds(pause));
        }
        if (auto r = c->ReadResponse(seconds(30))) tally_.Add(kind, *r);
        return;
      }
    }
  }

  std::string RandomToken(int n) {
    static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::string out;
    for (int i = 0; i < n; ++i) out += kAlphabet[rng_() % 62];
    return out;
  }

  const uint16_t port_;
  const std::string key_;
  Tally& tally_;
  std::mt19937_64 rng_;
  std::unique_ptr<http::TestClient> conn_;
};

// Runs `workers` Traffic loops until `stop`.
class Load {
 public:
  Load(uint16_t port, const std::string& key, Tally& tally, int workers, uint64_t seed) {
    for (int i = 0; i < workers; ++i) {
      threads_.emplace_back(
          [this, port, key, &tally, seed, i] { Traffic(port, key, tally, seed * 1000 + i).RunUntil(stop_); });
    }
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (std::thread& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

struct Checkpoint {
  int64_t size = 0;
  translog::Hash root{};
};

// The latest checkpoint the server publishes: origin, size and root lines.
std::optional<Checkpoint> FetchCheckpoint(uint16_t port) {
  auto c = http::TestClient::Connect(port);
  if (!c || !c->SendRequest("GET", "/log/checkpoint")) return std::nullopt;
  auto r = c->ReadResponse(seconds(5));
  if (!r || r->status != 200) return std::nullopt;
  const std::string& note = r->body;
  const size_t a = note.find('\n'), b = note.find('\n', a + 1), e = note.find('\n', b + 1);
  if (a == std::string::npos || b == std::string::npos || e == std::string::npos) return std::nullopt;
  auto bytes = Base64Decode(std::string_view(note).substr(b + 1, e - b - 1));
  if (!bytes) return std::nullopt;
  auto root = translog::HashFromBytes(*bytes);
  if (!root.ok()) return std::nullopt;
  return Checkpoint{std::atoll(note.substr(a + 1, b - a - 1).c_str()), *root};
}

struct LogFacts {
  std::set<std::string> request_ids;
  int64_t size = 0;
  std::optional<translog::Hash> root_at;  // at the size asked for
};

// Reads the log as another process on the data directory would.
absl::StatusOr<LogFacts> ReadLog(const std::string& db, int64_t root_at_size, bool ids) {
  ASSIGN_OR_RETURN(auto store, store::SqliteLogStore::Open(db, /*create=*/false));
  translog::LogReader reader(*store);
  ASSIGN_OR_RETURN(LogHead head, reader.Head());
  LogFacts facts;
  facts.size = head.size;
  if (root_at_size > 0 && root_at_size <= head.size) {
    ASSIGN_OR_RETURN(translog::Hash root, reader.RootAt(root_at_size));
    facts.root_at = root;
  }
  if (!ids) return facts;
  constexpr int64_t kPage = 4096;
  for (int64_t begin = 0; begin < head.size; begin += kPage) {
    ASSIGN_OR_RETURN(auto entries, reader.Entries(begin, std::min(head.size, begin + kPage)));
    for (const std::string& entry : entries) {
      auto e = translog::EventFromEntry(entry);
      if (!e.ok() || e->type != "access.decision") continue;
      auto details = ParseJson(e->details);
      if (details.ok() && details->contains("request_id")) facts.request_ids.insert((*details)["request_id"]);
    }
  }
  return facts;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// GET /v1/models on a keep-alive connection every 50 ms until `stop`: the
// latency a normal caller sees.
void Probe(uint16_t port, const std::string& key, const std::atomic<bool>& stop, std::vector<double>* out) {
  std::unique_ptr<http::TestClient> c;
  while (!stop.load()) {
    if (!c) c = http::TestClient::Connect(port);
    const auto start = Clock::now();
    if (!c || !c->SendRequest("GET", "/v1/models", "", {"Authorization: Bearer " + key})) {
      c.reset();
      continue;
    }
    auto r = c->ReadResponse(seconds(30));
    if (!r) {
      c.reset();
      continue;
    }
    if (r->status == 200) out->push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    std::this_thread::sleep_for(milliseconds(50));
  }
}

struct Verdict {
  int failed = 0;
  void Line(const std::string& what, const std::string& figure, const std::string& mark, bool pass) {
    std::printf("  %-44s %-28s %-24s %s\n", what.c_str(), figure.c_str(), mark.c_str(), pass ? "pass" : "FAIL");
    if (!pass) ++failed;
  }
};

int Main(const Options& o) {
  const std::filesystem::path root = std::filesystem::temp_directory_path() / ("aperture-soak-" + NewId("s"));
  const std::string data = (root / "data").string(), config = (root / "config.toml").string();
  const std::string server_log = (root / "server.log").string(), db = data + "/aperture.db";
  std::filesystem::create_directories(root);
  const std::string bin = o.aperture;
  auto [init_rc, owner] = Run(fmt::format("{} init --data {} 2>/dev/null", bin, data));
  owner = Trim(owner);
  if (init_rc != 0) return std::fprintf(stderr, "aperture init failed\n"), 2;
  Run(fmt::format("{} model add --data {} --id tiny --path {} --public-level hosted", bin, data, o.model));
  Run(fmt::format("{} principal add --data {} --name soak --role member", bin, data));
  const std::string key =
      Trim(Run(fmt::format("{} key create --data {} --principal soak 2>/dev/null", bin, data)).second);
  Run(fmt::format("{} grant --data {} --principal soak --model tiny --level api --reason soak", bin, data));
  const std::string verifier = Trim(Run(fmt::format("{} log key --data {}", bin, data)).second);
  // Saturation, not rate limits: the soak's one caller may send as fast as it can.
  std::ofstream(config) << "[server]\nheader_timeout_ms = 2000\nmax_body_bytes = 1048576\n"
                           "[rate_limits]\nprincipal_requests_per_minute = 0\nanonymous_requests_per_minute = 0\n"
                           "[levels.hosted]\nrequests_per_minute = 0\ntokens_per_minute = 0\n"
                           "[levels.api]\nrequests_per_minute = 0\ntokens_per_minute = 0\n";
  Verdict verdict;

  // ---- 1. Saturation ----
  std::printf("soak: %d s at saturation, %d connections, mixed traffic (data: %s)\n", o.seconds, o.connections,
              root.c_str());
  {
    Server server(o, data, config, server_log);
    if (server.port() == 0) return std::fprintf(stderr, "the server did not start; see %s\n", server_log.c_str()), 2;
    // The latency of a normal request on an idle server, for reference.
    std::vector<double> idle_ms;
    {
      std::atomic<bool> stop{false};
      std::thread probe([&] { Probe(server.port(), key, stop, &idle_ms); });
      std::this_thread::sleep_for(seconds(5));
      stop = true;
      probe.join();
    }
    Tally tally;
    std::vector<double> busy_ms;
    std::atomic<bool> stop_probe{false};
    std::thread probe([&] { Probe(server.port(), key, stop_probe, &busy_ms); });
    Load load(server.port(), key, tally, o.connections, 1);
    const auto start = Clock::now();
    int64_t rss_at_minute = 0, peak_after_minute = 0, rss_start = server.RssKib();
    bool died = false;
    while (Clock::now() - start < seconds(o.seconds)) {
      std::this_thread::sleep_for(seconds(1));
      if (!server.Alive()) {
        died = true;
        break;
      }
      const int64_t rss = server.RssKib();
      const auto elapsed = Clock::now() - start;
      if (elapsed < seconds(60)) {
        rss_at_minute = rss;  // the last sample of the first minute
      } else {
        peak_after_minute = std::max(peak_after_minute, rss);
      }
      if (std::chrono::duration_cast<seconds>(elapsed).count() % 60 == 0) {
        std::lock_guard<std::mutex> lock(tally.mu);
        std::printf("  %3lds: %ld answers, rss %ld KiB\n",
                    static_cast<long>(std::chrono::duration_cast<seconds>(elapsed).count()),
                    static_cast<long>(tally.answered), static_cast<long>(rss));
        std::fflush(stdout);
      }
    }
    load.Stop();
    stop_probe = true;
    probe.join();
    const double elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    std::this_thread::sleep_for(seconds(2));  // the log writer commits what is queued
    died = died || !server.Alive();
    std::printf("\n  traffic (status: count):\n");
    for (const auto& [kind, statuses] : tally.statuses) {
      std::string line;
      for (const auto& [status, count] : statuses)
        line += fmt::format(" {}:{}", status == 0 ? "none" : std::to_string(status), count);
      std::printf("    %-16s%s\n", kind.c_str(), line.c_str());
    }
    for (const std::string& f : tally.failure_examples) std::printf("    failure: %s\n", f.c_str());
    std::printf("\n  %-44s %-28s %-24s %s\n", "saturation", "figure", "pass mark", "");
    verdict.Line("process alive throughout", died ? "died" : "alive", "alive", !died);
    verdict.Line("answers", fmt::format("{} ({:.0f}/s)", tally.answered, tally.answered / elapsed_s), "-", true);
    verdict.Line("5xx other than 503 + Retry-After, or none", std::to_string(tally.failures), "0", tally.failures == 0);
    const bool measured = rss_at_minute > 0 && peak_after_minute > 0;
    const double growth =
        measured ? 100.0 * static_cast<double>(peak_after_minute - rss_at_minute) / static_cast<double>(rss_at_minute)
                 : 0;
    verdict.Line("peak RSS after 1 min vs RSS at 1 min",
                 measured ? fmt::format("{}->{} KiB ({:+.1f}%)", rss_at_minute, peak_after_minute, growth)
                          : "not measured (run > 60 s)",
                 "< +10%", measured && growth < 10.0);
    verdict.Line("RSS at start", fmt::format("{} KiB", rss_start), "-", true);
    verdict.Line("GET /v1/models p50/p99, idle",
                 fmt::format("{:.2f}/{:.2f} ms", Percentile(idle_ms, 0.5), Percentile(idle_ms, 0.99)), "-", true);
    verdict.Line("GET /v1/models p50/p99, under the soak",
                 fmt::format("{:.2f}/{:.2f} ms ({} probes)", Percentile(busy_ms, 0.5), Percentile(busy_ms, 0.99),
                             busy_ms.size()),
                 "answered", !busy_ms.empty());
    auto [verify_rc, verify_out] =
        Run(fmt::format("{} log verify --url http://127.0.0.1:{} --key '{}' 2>&1", bin, server.port(), verifier));
    verdict.Line("log verifies from scratch", Trim(verify_out).substr(0, 60), "exit 0", verify_rc == 0);
    server.Stop(SIGTERM);
    auto facts = ReadLog(db, 0, /*ids=*/true);
    int64_t missing = 0;
    if (facts.ok()) {
      for (const std::string& id : tally.request_ids) missing += facts->request_ids.count(id) == 0;
    }
    verdict.Line("answers whose X-Request-Id is not in the log",
                 facts.ok() ? fmt::format("{} of {}", missing, tally.request_ids.size()) : "log unreadable", "0",
                 facts.ok() && missing == 0);
  }

  // ---- 2. Crash loops ----
  std::printf("\ncrash loops: %d x (load, SIGKILL at a random moment, integrity check, restart, verify)\n",
              o.kill_loops);
  std::mt19937_64 rng(7);
  int integrity_failures = 0, verify_failures = 0, lost = 0, restarts_failed = 0;
  int64_t checkpoints_checked = 0, max_size = 0;
  auto server = std::make_unique<Server>(o, data, config, server_log);
  for (int loop = 0; loop < o.kill_loops && server->port() != 0; ++loop) {
    Tally tally;
    std::optional<Checkpoint> seen;
    std::atomic<bool> stop_watch{false};
    std::thread watcher([&] {
      while (!stop_watch.load()) {
        if (auto c = FetchCheckpoint(server->port())) seen = *c;
        std::this_thread::sleep_for(milliseconds(20));
      }
    });
    {
      Load load(server->port(), key, tally, std::max(4, o.connections / 2), 100 + loop);
      std::this_thread::sleep_for(milliseconds(std::uniform_int_distribution<int>(500, 3000)(rng)));
      server->Stop(SIGKILL);  // mid-load: requests in flight, log batches uncommitted
      stop_watch = true;
      watcher.join();
    }
    auto [integrity_rc, integrity] = Run(fmt::format("sqlite3 {} 'PRAGMA integrity_check' 2>&1", db));
    if (integrity_rc != 0 || Trim(integrity) != "ok") {
      ++integrity_failures;
      std::printf("  loop %d: integrity_check: %s\n", loop, Trim(integrity).c_str());
    }
    server = std::make_unique<Server>(o, data, config, server_log);
    if (server->port() == 0) {
      ++restarts_failed;
      break;
    }
    auto [verify_rc, verify_out] =
        Run(fmt::format("{} log verify --url http://127.0.0.1:{} --key '{}' 2>&1", bin, server->port(), verifier));
    if (verify_rc != 0) {
      ++verify_failures;
      std::printf("  loop %d: log verify: %s\n", loop, Trim(verify_out).c_str());
    }
    if (seen) {
      ++checkpoints_checked;
      auto facts = ReadLog(db, seen->size, /*ids=*/false);
      if (!facts.ok() || !facts->root_at || *facts->root_at != seen->root) {
        ++lost;
        std::printf("  loop %d: the checkpoint of size %ld seen before the kill is not in the log\n", loop,
                    static_cast<long>(seen->size));
      } else {
        max_size = std::max(max_size, facts->size);
      }
    }
  }
  server.reset();
  std::printf("\n  %-44s %-28s %-24s %s\n", "crash loops", "figure", "pass mark", "");
  verdict.Line("restarts that failed", std::to_string(restarts_failed), "0", restarts_failed == 0);
  verdict.Line("PRAGMA integrity_check not ok", fmt::format("{} of {}", integrity_failures, o.kill_loops), "0",
               integrity_failures == 0);
  verdict.Line("log verify from scratch failed", fmt::format("{} of {}", verify_failures, o.kill_loops), "0",
               verify_failures == 0);
  verdict.Line("checkpoints seen before a kill, then lost", fmt::format("{} of {}", lost, checkpoints_checked), "0",
               lost == 0 && checkpoints_checked > 0);
  verdict.Line("log size at the end", std::to_string(max_size), "-", true);
  std::printf("\n%s (%d failed)\n", verdict.failed == 0 ? "soak: PASS" : "soak: FAIL", verdict.failed);
  if (verdict.failed == 0) {
    std::error_code ec;
    std::filesystem::remove_all(root, ec);
  } else {
    std::printf("data and server log kept in %s\n", root.c_str());
  }
  return verdict.failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace aperture::soak

int main(int argc, char** argv) {
  aperture::soak::Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--aperture") {
      o.aperture = value;
    } else if (flag == "--model") {
      o.model = value;
    } else if (flag == "--seconds") {
      o.seconds = std::atoi(value.c_str());
    } else if (flag == "--kill-loops") {
      o.kill_loops = std::atoi(value.c_str());
    } else if (flag == "--connections") {
      o.connections = std::atoi(value.c_str());
    } else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  if (o.aperture.empty() || o.model.empty()) {
    std::fprintf(stderr,
                 "usage: aperture_soak --aperture BIN --model GGUF [--seconds 600] [--kill-loops 50] "
                 "[--connections 24]\n");
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  return aperture::soak::Main(o);
}
