// The transparency log's speed (issue 5): durable appends per second through
// the sequencer (batched, one fsync'd transaction and one signed checkpoint
// per batch) while building a log of 10 million entries on the SQLite store,
// then sustained on top of it; and the latency of inclusion and consistency
// proofs at that size. Floors: 50,000 appends/s; proofs under 100 us at p99.
//
//   translog_bench [--db FILE] [--entries N] [--seconds S] [--proofs K] [--rounds R]
//
// The database is kept between runs (a log already big enough is reused).
#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/clock.h"
#include "fmt/format.h"
#include "store/sqlite/sqlite_log_store.h"
#include "translog/log_reader.h"
#include "translog/sequencer.h"

namespace aperture {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU time this thread has used, in microseconds.
double ThreadCpuMicros() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

// An access decision as the record filter writes it.
LogEvent Decision(int64_t n) {
  static const char* kRoutes[] = {"chat.completions", "models.list", "completions", "embeddings"};
  LogEvent e;
  e.type = "access.decision";
  e.time = 1'760'000'000 + n / 1000;
  e.actor = fmt::format("prn_{:016x}", (n * 2654435761u) % 4096);
  e.model = "llama-3-8b";
  e.level = "api";
  e.outcome = n % 7 == 0 ? "deny" : "allow";
  e.reason = n % 7 == 0 ? "rate_limited" : "ok";
  e.details = fmt::format(R"({{"capabilities":["chat"],"key":"key_{:016x}","route":"{}","status":{}}})", n % 65536,
                          kRoutes[n % 4], n % 7 == 0 ? 429 : 200);
  return e;
}

struct Percentiles {
  double p50 = 0, p99 = 0, max = 0;
};

Percentiles Summarize(std::vector<double>& us) {
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[std::min(us.size() - 1, static_cast<size_t>(q * us.size()))]; };
  return {at(0.50), at(0.99), us.back()};
}

std::string Verdict(bool ok) { return ok ? "ok" : "BELOW FLOOR"; }

// Appends from `producers` threads until `target` entries or `deadline`;
// returns entries appended per second, counted once durable.
double Append(translog::LogSequencer& seq, translog::LogReader& reader, int64_t& next, int64_t target,
              Clock::time_point deadline, int producers) {
  const int64_t start_size = reader.Head()->size;
  std::atomic<int64_t> counter{next};
  std::atomic<bool> stop{false};
  const auto t0 = Clock::now();
  std::vector<std::thread> threads;
  for (int p = 0; p < producers; ++p) {
    threads.emplace_back([&] {
      while (!stop.load(std::memory_order_relaxed)) {
        const int64_t n = counter.fetch_add(1);
        if (n >= target) break;
        seq.Record(Decision(n));
      }
    });
  }
  int64_t last_report = start_size;
  auto last_time = t0;
  while (true) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (Clock::now() >= deadline) stop = true;
    if (counter.load() >= target || stop) break;
    if (Clock::now() - last_time > std::chrono::seconds(10)) {
      const int64_t size = reader.Head()->size;
      std::fprintf(stderr, "  ... %lld entries (%.0f/s)\n", static_cast<long long>(size),
                   (size - last_report) / Seconds(Clock::now() - last_time));
      last_report = size;
      last_time = Clock::now();
    }
  }
  for (auto& t : threads) t.join();
  seq.Flush();
  const double elapsed = Seconds(Clock::now() - t0);
  const int64_t end_size = reader.Head()->size;
  next = std::min(counter.load(), target);
  return (end_size - start_size) / elapsed;
}

int Run(int argc, char** argv) {
  std::string db = "/tmp/aperture-translog-bench/log.db";
  int64_t entries = 10'000'000;
  double seconds = 10;
  int proofs = 20000;
  int rounds = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--db")
      db = argv[i + 1];
    else if (flag == "--entries")
      entries = std::atoll(argv[i + 1]);
    else if (flag == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else if (flag == "--proofs")
      proofs = std::atoi(argv[i + 1]);
    else if (flag == "--rounds")
      rounds = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::filesystem::create_directories(std::filesystem::path(db).parent_path());
  const auto open_start = Clock::now();
  auto store = store::SqliteLogStore::Open(db, /*create=*/true);
  if (!store.ok()) {
    std::fprintf(stderr, "%s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  // Includes any pending migration (7 converts an older log's hashes to tiles).
  std::printf("translog: opened %s in %.2f s\n", db.c_str(), Seconds(Clock::now() - open_start));
  // The bench's own key: the same Ed25519 signing as the server's.
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  crypto_sign_seed_keypair(pk, sk, reinterpret_cast<const unsigned char*>("aperture translog bench seed 32b"));
  auto seq = translog::LogSequencer::Open(**store, std::string(reinterpret_cast<char*>(sk), sizeof sk),
                                          "bench.aperture/log", SystemClock::Get());
  if (!seq.ok()) {
    std::fprintf(stderr, "%s\n", std::string(seq.status().message()).c_str());
    return 1;
  }
  translog::LogReader reader(**store);
  const int producers = std::max(1u, std::thread::hardware_concurrency() / 2);

  // 1. Build the log through the sequencer: the sustained durable append rate.
  int64_t next = reader.Head()->size;
  if (next < entries) {
    std::printf("translog: building a log of %lld entries in %s (%lld there already)\n",
                static_cast<long long>(entries), db.c_str(), static_cast<long long>(next));
    std::fflush(stdout);
    const double rate = Append(**seq, reader, next, entries, Clock::time_point::max(), producers);
    std::printf("translog: durable appends while building: %.0f /s sustained (floor 50,000 /s) %s\n", rate,
                Verdict(rate >= 50000).c_str());
  }
  const int64_t size = reader.Head()->size;

  // 2. Sustained appends on top of the full-size log.
  int64_t more = size;
  const double rate = Append(
      **seq, reader, more, INT64_MAX,
      Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds)), producers);
  std::printf("translog: durable appends at %lld entries: %.0f /s over %.0f s (floor 50,000 /s) %s\n",
              static_cast<long long>(size), rate, seconds, Verdict(rate >= 50000).c_str());

  // 3. Proof latency at that size: random leaves and random size pairs,
  // after the start-up warming the server does.
  const int64_t n = reader.Head()->size;
  const auto warm_start = Clock::now();
  auto warmed = reader.Warm();
  if (!warmed.ok()) {
    std::fprintf(stderr, "%s\n", std::string(warmed.status().message()).c_str());
    return 1;
  }
  std::printf("translog: warmed %lld subtree hashes in %.2f s\n", static_cast<long long>(*warmed),
              Seconds(Clock::now() - warm_start));
  std::mt19937_64 rng(42);
  for (int round = 1; round <= rounds; ++round) {
    // Wall time is what a caller sees; the thread's CPU time leaves out the
    // time it waited for a core (on a shared machine, most of a bad p99).
    std::vector<double> inclusion, consistency, inclusion_cpu, consistency_cpu;
    auto time_one = [&](auto&& proof, std::vector<double>& wall, std::vector<double>& cpu, bool keep) {
      const double c0 = ThreadCpuMicros();
      const auto t0 = Clock::now();
      auto result = proof();
      const double us = Seconds(Clock::now() - t0) * 1e6;
      const double cpu_us = ThreadCpuMicros() - c0;
      if (!result.ok()) {
        std::fprintf(stderr, "%s\n", std::string(result.status().message()).c_str());
        return false;
      }
      if (keep) {
        wall.push_back(us);
        cpu.push_back(cpu_us);
      }
      return true;
    };
    for (int i = 0; i < proofs + 1000; ++i) {  // the first thousand warm the connection
      const int64_t index = std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
      if (!time_one([&] { return reader.InclusionProof(index, n); }, inclusion, inclusion_cpu, i >= 1000)) return 1;
    }
    for (int i = 0; i < proofs + 1000; ++i) {
      const int64_t newer = std::uniform_int_distribution<int64_t>(2, n)(rng);
      const int64_t older = std::uniform_int_distribution<int64_t>(1, newer - 1)(rng);
      if (!time_one([&] { return reader.ConsistencyProof(older, newer); }, consistency, consistency_cpu, i >= 1000)) {
        return 1;
      }
    }
    // Spot-check that what was timed is right.
    for (int i = 0; i < 100; ++i) {
      const int64_t index = std::uniform_int_distribution<int64_t>(0, n - 1)(rng);
      auto entry = (*store)->Entries(index, index + 1);
      auto proof = reader.InclusionProof(index, n);
      auto root = reader.RootAt(n);
      if (!entry.ok() || !proof.ok() || !root.ok() ||
          !translog::VerifyInclusion(index, n, translog::LeafHash((*entry)[0]), *proof, *root).ok()) {
        std::fprintf(stderr, "translog: a timed proof does not verify\n");
        return 1;
      }
    }
    const std::string label = rounds > 1 ? fmt::format(" (round {})", round) : "";
    for (auto [name, wall, cpu] : {std::tuple("inclusion", &inclusion, &inclusion_cpu),
                                   std::tuple("consistency", &consistency, &consistency_cpu)}) {
      const Percentiles w = Summarize(*wall), c = Summarize(*cpu);
      std::printf(
          "translog: %s proof at %lld entries%s: p50 %.1f us, p99 %.1f us, max %.1f us (floor p99 < 100 us) %s; "
          "CPU time p50 %.1f us, p99 %.1f us\n",
          name, static_cast<long long>(n), label.c_str(), w.p50, w.p99, w.max, Verdict(w.p99 < 100).c_str(), c.p50,
          c.p99);
    }
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace
}  // namespace aperture

int main(int argc, char** argv) { return aperture::Run(argc, argv); }
