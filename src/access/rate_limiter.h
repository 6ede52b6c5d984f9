// RateLimiter: token buckets keyed by caller (and model), refilled
// continuously at a per-minute rate with a burst of one minute's worth.
#pragma once

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

  // Takes `cost` tokens from `key`'s bucket of `per_minute` capacity. Returns
  // nullopt if allowed, or the seconds to wait before retrying. A rate of 0
  // means unlimited.
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

  const Clock& clock_;
  Shard shards_[kShards];
};

}  // namespace aperture
