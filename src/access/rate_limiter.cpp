#include "access/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>

namespace aperture {
namespace {

constexpr double kMicrosPerMinute = 60e6;

// Heap bytes a std::string of this length owns (none within the small-string buffer).
size_t KeyHeapBytes(const std::string& key) { return key.capacity() > 15 ? key.capacity() + 1 : 0; }

// Microseconds until `b` is full at its own rate, as of `now` (<= 0: full).
double MicrosUntilFull(double tokens, double capacity, int64_t updated_micros, int64_t now) {
  const double missing = capacity - tokens;
  return missing / (capacity / kMicrosPerMinute) - static_cast<double>(now - updated_micros);
}

int64_t SecondsFromMicros(double micros) { return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(micros / 1e6))); }

}  // namespace

RateLimiter::RateLimiter(const Clock& clock, Options options)
    : clock_(clock),
      shard_count_(std::max<size_t>(1, options.shards)),
      shard_capacity_(std::max<size_t>(1, options.max_buckets / shard_count_)),
      shards_(std::make_unique<Shard[]>(shard_count_)) {}

void RateLimiter::SetReplicas(int replicas) { replicas_.store(std::max(1, replicas), std::memory_order_relaxed); }

double RateLimiter::Share(int64_t per_minute) const {
  return static_cast<double>(per_minute) / replicas_.load(std::memory_order_relaxed);
}

RateLimiter::Shard& RateLimiter::ShardFor(std::string_view key) {
  return shards_[std::hash<std::string_view>{}(key) % shard_count_];
}

void RateLimiter::Refill(Bucket& b, int64_t now) {
  if (now > b.updated_micros) {
    b.tokens += static_cast<double>(now - b.updated_micros) * (b.capacity / kMicrosPerMinute);
    b.updated_micros = now;
  }
  b.tokens = std::min(b.tokens, b.capacity);
}

int64_t RateLimiter::MakeRoom(Shard& shard, int64_t now, size_t capacity) {
  // Second chance from the least recently used end: a refilled bucket is
  // evicted; one still refilling goes to the back (keeping its state) and
  // tells how long until it would be evictable.
  double soonest = -1;
  for (int i = 0; i < kEvictScan && shard.lru.size() >= capacity; ++i) {
    Bucket& front = shard.lru.front();
    const double until_full = MicrosUntilFull(front.tokens, front.capacity, front.updated_micros, now);
    if (until_full <= 0) {
      shard.index.erase(front.key);
      shard.key_bytes -= KeyHeapBytes(front.key);
      shard.lru.pop_front();
      continue;
    }
    soonest = soonest < 0 ? until_full : std::min(soonest, until_full);
    shard.lru.splice(shard.lru.end(), shard.lru, shard.lru.begin());
  }
  if (shard.lru.size() < capacity) return 0;
  return std::max<int64_t>(1, static_cast<int64_t>(std::ceil(soonest)));
}

RateLimiter::Verdict RateLimiter::Acquire(std::string_view key, int64_t per_minute, int64_t cost) {
  if (per_minute <= 0) return {};
  const int64_t now = clock_.NowMicros();
  const double capacity = Share(per_minute);
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  Bucket* b = nullptr;
  if (auto it = shard.index.find(key); it != shard.index.end()) {
    shard.lru.splice(shard.lru.end(), shard.lru, it->second);  // now the most recently used
    b = &*it->second;
    b->capacity = capacity;  // the caller's level, and so its rate, may have changed
    Refill(*b, now);
  } else {
    if (shard.lru.size() >= shard_capacity_) {
      if (int64_t wait = MakeRoom(shard, now, shard_capacity_); wait > 0) {
        return {
            .allowed = false, .retry_after_seconds = SecondsFromMicros(static_cast<double>(wait)), .table_full = true};
      }
    }
    shard.lru.push_back(Bucket{std::string(key), capacity, capacity, now});
    auto node = std::prev(shard.lru.end());
    shard.index.emplace(node->key, node);
    shard.key_bytes += KeyHeapBytes(node->key);
    b = &*node;
  }
  // A cost above the bucket's capacity (this replica's share) takes it whole.
  const double take = std::min(static_cast<double>(cost), capacity);
  if (b->tokens >= take) {
    b->tokens -= take;
    return {};
  }
  const double missing = take - b->tokens;
  return {.allowed = false, .retry_after_seconds = SecondsFromMicros(missing / (capacity / kMicrosPerMinute))};
}

void RateLimiter::Settle(std::string_view key, int64_t per_minute, int64_t charged, int64_t used) {
  if (per_minute <= 0 || charged == used) return;
  const int64_t now = clock_.NowMicros();
  Shard& shard = ShardFor(key);
  absl::MutexLock lock(&shard.mu);
  auto it = shard.index.find(key);
  if (it == shard.index.end()) return;  // refilled and evicted: nothing owed either way
  shard.lru.splice(shard.lru.end(), shard.lru, it->second);
  Bucket& b = *it->second;
  Refill(b, now);
  const double taken = std::min(static_cast<double>(charged), b.capacity);  // as Acquire took it
  b.tokens = std::clamp(b.tokens + taken - static_cast<double>(used), -b.capacity, b.capacity);
}

size_t RateLimiter::size() const {
  size_t n = 0;
  for (size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    absl::MutexLock lock(&shard.mu);
    n += shard.lru.size();
  }
  return n;
}

size_t RateLimiter::ApproximateBytes() const {
  // A list node: the bucket, two links and the allocator's header; an index
  // slot: its value and one control byte, for every slot allocated.
  constexpr size_t kNode = sizeof(Bucket) + 2 * sizeof(void*) + 16;
  constexpr size_t kSlot = sizeof(std::pair<const std::string_view, Lru::iterator>) + 1;
  size_t bytes = sizeof(*this) + shard_count_ * sizeof(Shard);
  for (size_t i = 0; i < shard_count_; ++i) {
    const Shard& shard = shards_[i];
    absl::MutexLock lock(&shard.mu);
    bytes += shard.lru.size() * kNode + shard.index.capacity() * kSlot + shard.key_bytes;
  }
  return bytes;
}

}  // namespace aperture
