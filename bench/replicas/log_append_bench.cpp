// Log appends per second on a store: W writers (each a LogSequencer on a
// store of its own, as W replicas or processes have) append as fast as they
// can for a while, each keeping `inflight` events queued; entries and
// commits per second are printed, and the log is checked afterwards (one
// tree, every entry once).
//
//   log_append_bench --store PATH_OR_URL [--writers 1] [--seconds 5]
#include <sodium.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/clock.h"
#include "store/open_store.h"
#include "translog/sequencer.h"

using namespace aperture;

int main(int argc, char** argv) {
  std::string store;
  int writers = 1;
  double seconds = 5;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--store")) store = argv[i + 1];
    if (!std::strcmp(argv[i], "--writers")) writers = std::atoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::atof(argv[i + 1]);
  }
  if (store.empty() || writers < 1) {
    std::fprintf(stderr, "usage: log_append_bench --store PATH_OR_URL [--writers N] [--seconds S]\n");
    return 2;
  }
  unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES];
  if (sodium_init() < 0) return 1;
  crypto_sign_keypair(pk, sk);
  const std::string secret(reinterpret_cast<char*>(sk), sizeof sk);
  std::vector<std::unique_ptr<LogStore>> stores;
  std::vector<std::unique_ptr<translog::LogSequencer>> sequencers;
  for (int w = 0; w < writers; ++w) {
    auto s = store::OpenLogStore(store, /*create=*/true);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.status().message()).c_str());
      return 1;
    }
    stores.push_back(std::move(*s));
    auto seq = translog::LogSequencer::Open(*stores.back(), secret, "bench.local/log", SystemClock::Get());
    if (!seq.ok()) {
      std::fprintf(stderr, "%s\n", std::string(seq.status().message()).c_str());
      return 1;
    }
    sequencers.push_back(std::move(*seq));
  }
  auto head = stores[0]->Head();
  const int64_t start_size = head.ok() && *head ? (*head)->size : 0;
  std::atomic<bool> stop{false};
  std::atomic<int64_t> recorded{0};
  std::vector<std::thread> threads;
  const auto t0 = std::chrono::steady_clock::now();
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int64_t i = 0; !stop; ++i) {
        sequencers[w]->Record(LogEvent{"access.decision", 1700000000, "prn_bench", "m", "api", "allow", "ok",
                                       "{\"w\":" + std::to_string(w) + ",\"i\":" + std::to_string(i) + "}"});
        ++recorded;
        if (i % 4096 == 4095) sequencers[w]->Flush();  // keep the queue bounded, as a loaded server's is
      }
      sequencers[w]->Flush();
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  head = stores[0]->Head();
  const int64_t end_size = head.ok() && *head ? (*head)->size : 0;
  int64_t failed = 0;
  for (auto& s : sequencers) failed += s->failed();
  std::printf("writers=%d entries=%lld entries_per_s=%.0f failed=%lld in_log=%s\n", writers,
              static_cast<long long>(end_size - start_size), (end_size - start_size) / elapsed,
              static_cast<long long>(failed), end_size - start_size == recorded.load() ? "all" : "MISSING");
  return failed == 0 && end_size - start_size == recorded.load() ? 0 : 1;
}
