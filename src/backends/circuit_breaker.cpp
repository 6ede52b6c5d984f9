#include "backends/circuit_breaker.h"

namespace aperture::backends {

bool CircuitBreaker::Allow(int64_t now) {
  if (state_ == State::kOpen && now >= open_until_) {
    state_ = State::kHalfOpen;
    trial_out_ = false;
  }
  switch (state_) {
    case State::kClosed:
      return true;
    case State::kOpen:
      return false;
    case State::kHalfOpen:
      if (trial_out_) return false;
      trial_out_ = true;
      return true;
  }
  return false;
}

void CircuitBreaker::OnSuccess() {
  state_ = State::kClosed;
  consecutive_ = 0;
  trial_out_ = false;
}

void CircuitBreaker::OnFailure(int64_t now) {
  ++consecutive_;
  if (state_ == State::kHalfOpen || consecutive_ >= failures_) {
    state_ = State::kOpen;
    open_until_ = now + open_micros_;
    trial_out_ = false;
  }
}

CircuitBreaker::State CircuitBreaker::state(int64_t now) const {
  if (state_ == State::kOpen && now >= open_until_) return State::kHalfOpen;
  return state_;
}

std::string_view CircuitBreaker::Name(State s) {
  switch (s) {
    case State::kClosed:
      return "closed";
    case State::kOpen:
      return "open";
    case State::kHalfOpen:
      return "half_open";
  }
  return "?";
}

}  // namespace aperture::backends
