// RateLimiter: token buckets keyed by caller (and model), refilled
// continuously at a per-minute rate with a burst of one minute's worth.
//
// Replicas split each limit: with N server processes on one store (the
// replicas seen in the last few seconds), each process allows 1/N of every
// rate, so the whole deployment allows the configured rate however a load
// balancer spreads a caller's requests. The cost: a caller whose requests
// all reach one replica (a sticky connection) gets 1/N of the rate, and a
// single request may take at most one replica's share of a bucket
// (docs/deploy.md).
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "core/clock.h"

namespace aperture {

// Thread-safe; buckets are sharded by key to keep contention low.
class RateLimiter {
 public:
  explicit RateLimiter(const Clock& clock) : clock_(clock) {}

  // How many replicas share the limits (1 or more); the server sets it from
  // the replicas table every second.
  void SetReplicas(int replicas);
  int replicas() const { return replicas_.load(std::memory_order_relaxed); }

  // Takes `cost` tokens from `key`'s bucket of `per_minute` capacity (this
  // replica's share of it; a cost above the share takes the whole share).
  // Returns nullopt if allowed, or the seconds to wait before retrying. A
  // rate of 0 means unlimited.
  std::optional<int64_t> Acquire(const std::string& key, int64_t per_minute, int64_t cost = 1);
  // Gives back tokens taken but not used (e.g. a completion that stopped
  // before max_tokens); the bucket never exceeds its capacity.
  void Refund(const std::string& key, int64_t per_minute, int64_t amount);

 private:
  struct Bucket {
    double tokens = 0;
    int64_t updated_micros = 0;
  };
  struct Shard {
    absl::Mutex mu;
    std::unordered_map<std::string, Bucket> buckets ABSL_GUARDED_BY(mu);
  };
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxBucketsPerShard = 65536;

  // This replica's share of a per-minute rate.
  double Share(int64_t per_minute) const;

  const Clock& clock_;
  std::atomic<int> replicas_{1};
  Shard shards_[kShards];
};

}  // namespace aperture
