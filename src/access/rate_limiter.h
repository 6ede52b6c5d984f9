// RateLimiter: token buckets keyed by caller (and model), refilled
// continuously at a per-minute rate with a burst of one minute's worth.
//
// Memory is bounded: at most `max_buckets` buckets (about 140 bytes each)
// whatever the number of distinct keys. A bucket that has refilled
// completely carries no state (a new one would start full), so buckets are
// evicted, least recently used first, once refilled, each judged by its own
// rate. A bucket holds at most one minute's worth (a charge settled after
// the fact may leave up to one more minute of debt), so every bucket
// refills within two minutes of its last use. When the table is full and
// none of the oldest few buckets has refilled, a new key is refused
// (table_full, with the seconds until one will have),
// as nginx's limit_req answers 503 when its zone is full: refusing a
// newcomer is safe, while evicting a drained bucket would reset a
// throttled caller to a full one.
//
// Replicas split each limit: with N server processes on one store (the
// replicas seen in the last few seconds), each process allows 1/N of every
// rate, so the whole deployment allows the configured rate however a load
// balancer spreads a caller's requests. The cost: a caller whose requests
// all reach one replica (a sticky connection) gets 1/N of the rate, and a
// single request may take at most one replica's share of a bucket
// (docs/deploy.md).
//
// Usage:
//   RateLimiter limiter(clock, {.max_buckets = 100'000});
//   RateLimiter::Verdict v = limiter.Acquire("prn_x/model", /*per_minute=*/120);
//   if (!v.allowed) ... 429, Retry-After: v.retry_after_seconds
//   limiter.Settle("prn_x/model", 120, /*charged=*/budget, /*used=*/actual);
//
// Thread-safety: thread-safe; buckets are sharded by key to keep contention low.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"

namespace aperture {

class RateLimiter {
 public:
  struct Options {
    size_t max_buckets = 100'000;  // over all shards
    size_t shards = 16;            // each with max_buckets / shards buckets and its own lock
  };
  struct Verdict {
    bool allowed = true;
    int64_t retry_after_seconds = 0;  // when refused: >= 1
    bool table_full = false;          // refused because too many callers are tracked, not for this one's rate
  };

  RateLimiter(const Clock& clock, Options options);
  explicit RateLimiter(const Clock& clock) : RateLimiter(clock, Options{}) {}

  // Takes `cost` tokens from `key`'s bucket of `per_minute` capacity (this
  // replica's share of it; a cost above the share takes the whole share).
  // A rate of 0 means unlimited.
  Verdict Acquire(std::string_view key, int64_t per_minute, int64_t cost = 1);
  // Settles a charge taken by Acquire once the real use is known: gives back
  // what was charged but not used, or takes what was used beyond it (the
  // bucket may go into debt, at most one minute's worth, so the caller's
  // next requests wait). The bucket never exceeds its capacity.
  void Settle(std::string_view key, int64_t per_minute, int64_t charged, int64_t used);

  // Buckets held now, and an upper bound on the bytes they take.
  size_t size() const;
  size_t ApproximateBytes() const;
  size_t max_buckets() const { return shard_capacity_ * shard_count_; }

  // How many replicas share the limits (1 or more); the server sets it from
  // the replicas table every second. Each bucket's capacity is this
  // replica's share of its rate.
  void SetReplicas(int replicas);
  int replicas() const { return replicas_.load(std::memory_order_relaxed); }

 private:
  struct Bucket {
    std::string key;
    double tokens = 0;    // may be negative (debt), never below -capacity
    double capacity = 0;  // this bucket's own rate per minute, for its refill and eviction
    int64_t updated_micros = 0;
  };
  using Lru = std::list<Bucket>;  // least recently used first
  struct Shard {
    mutable absl::Mutex mu;
    Lru lru ABSL_GUARDED_BY(mu);
    // Keys view the strings inside `lru`'s nodes, which never move.
    absl::flat_hash_map<std::string_view, Lru::iterator> index ABSL_GUARDED_BY(mu);
    size_t key_bytes ABSL_GUARDED_BY(mu) = 0;  // heap bytes of the keys
  };
  // Buckets examined for eviction per insertion into a full shard.
  static constexpr int kEvictScan = 4;

  Shard& ShardFor(std::string_view key);
  static void Refill(Bucket& b, int64_t now);
  // Evicts refilled buckets from the front of a full shard; returns the
  // microseconds until the front refills when none could be evicted (0: room made).
  static int64_t MakeRoom(Shard& shard, int64_t now, size_t capacity) ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);
  // This replica's share of a per-minute rate.
  double Share(int64_t per_minute) const;

  const Clock& clock_;
  const size_t shard_count_;
  const size_t shard_capacity_;
  const std::unique_ptr<Shard[]> shards_;
  std::atomic<int> replicas_{1};
};

}  // namespace aperture
