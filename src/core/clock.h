// Clock: the only source of "now", injectable so tests can move time.
#pragma once

#include <atomic>
#include <cstdint>

namespace aperture {

// Seconds and microseconds since the Unix epoch. Implementations are thread-safe.
class Clock {
 public:
  virtual ~Clock() = default;
  virtual int64_t NowMicros() const = 0;
  int64_t NowSeconds() const { return NowMicros() / 1'000'000; }
};

class SystemClock final : public Clock {
 public:
  int64_t NowMicros() const override;
  static const Clock& Get();
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_micros = 1'700'000'000'000'000) : now_(start_micros) {}
  int64_t NowMicros() const override { return now_.load(); }
  void AdvanceSeconds(int64_t s) { now_ += s * 1'000'000; }
  void AdvanceMicros(int64_t us) { now_ += us; }
  void SetMicros(int64_t us) { now_ = us; }

 private:
  std::atomic<int64_t> now_;
};

}  // namespace aperture
