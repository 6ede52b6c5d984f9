// CircuitBreaker: whether a backend gets requests now. Closed, it gets
// every request; `failures` failures in a row open it for `open_for`, when
// it gets none (the caller's requests go to other backends at once instead
// of each waiting for a timeout); then it is half-open: one trial request
// (or a passing readiness probe) at a time, whose success closes it and
// whose failure opens it again for another `open_for`.
//
// Usage:
//   CircuitBreaker breaker(3, absl::Seconds(5));
//   if (breaker.Allow(now)) { ... send ...; ok ? breaker.OnSuccess() : breaker.OnFailure(now); }
//
// Thread-safety: not thread-safe; its owner (RemoteBackends) locks.
#pragma once

#include <cstdint>
#include <string_view>

namespace aperture::backends {

class CircuitBreaker {
 public:
  enum class State { kClosed, kOpen, kHalfOpen };

  CircuitBreaker(int failures, int64_t open_micros) : failures_(failures), open_micros_(open_micros) {}

  // Whether a request may go now; in the half-open state this takes the one
  // trial, so a second caller is refused until the trial ends.
  bool Allow(int64_t now_micros);
  void OnSuccess();
  void OnFailure(int64_t now_micros);
  State state(int64_t now_micros) const;
  // When an open circuit lets a trial through (0 when it is not open).
  int64_t reopens_at() const { return state_ == State::kOpen ? open_until_ : 0; }

  static std::string_view Name(State s);

 private:
  const int failures_;
  const int64_t open_micros_;
  State state_ = State::kClosed;
  int consecutive_ = 0;
  int64_t open_until_ = 0;
  bool trial_out_ = false;
};

}  // namespace aperture::backends
