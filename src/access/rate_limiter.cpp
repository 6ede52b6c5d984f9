#include "access/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace aperture {

void RateLimiter::SetReplicas(int replicas) { replicas_.store(std::max(1, replicas), std::memory_order_relaxed); }

double RateLimiter::Share(int64_t per_minute) const {
  return static_cast<double>(per_minute) / replicas_.load(std::memory_order_relaxed);
}

std::optional<int64_t> RateLimiter::Acquire(const std::string& key, int64_t per_minute, int64_t cost) {
  if (per_minute <= 0) return std::nullopt;
  const int64_t now = clock_.NowMicros();
  const double capacity = Share(per_minute);
  const double per_micro = capacity / 60e6;
  const double take = std::min(static_cast<double>(cost), capacity);
  Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
  absl::MutexLock lock(&shard.mu);
  if (shard.buckets.size() >= kMaxBucketsPerShard && !shard.buckets.count(key)) {
    // Drop buckets that have refilled completely: they carry no state.
    std::erase_if(shard.buckets, [&](const auto& kv) {
      return kv.second.tokens + (now - kv.second.updated_micros) * per_micro >= capacity;
    });
  }
  auto [it, inserted] = shard.buckets.try_emplace(key, Bucket{capacity, now});
  Bucket& b = it->second;
  b.tokens = std::min(capacity, b.tokens + (now - b.updated_micros) * per_micro);
  b.updated_micros = now;
  if (b.tokens >= take) {
    b.tokens -= take;
    return std::nullopt;
  }
  double missing = take - b.tokens;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(missing / per_micro / 1e6)));
}

void RateLimiter::Refund(const std::string& key, int64_t per_minute, int64_t amount) {
  if (per_minute <= 0 || amount <= 0) return;
  Shard& shard = shards_[std::hash<std::string>{}(key) % kShards];
  absl::MutexLock lock(&shard.mu);
  auto it = shard.buckets.find(key);
  if (it == shard.buckets.end()) return;
  it->second.tokens = std::min(Share(per_minute), it->second.tokens + static_cast<double>(amount));
}

}  // namespace aperture
