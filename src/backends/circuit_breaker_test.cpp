#include "backends/circuit_breaker.h"

#include <gtest/gtest.h>

namespace aperture::backends {
namespace {

using State = CircuitBreaker::State;

TEST(CircuitBreakerTest, OpensAfterConsecutiveFailuresThenLetsOneTrialThrough) {
  CircuitBreaker b(3, 1000);
  EXPECT_TRUE(b.Allow(0));
  b.OnFailure(0);
  b.OnFailure(0);
  b.OnSuccess();  // a success in between resets the count
  b.OnFailure(10);
  b.OnFailure(10);
  EXPECT_EQ(b.state(10), State::kClosed);
  b.OnFailure(10);
  EXPECT_EQ(b.state(10), State::kOpen);
  EXPECT_EQ(b.reopens_at(), 1010);
  EXPECT_FALSE(b.Allow(500));
  // Half open: one trial at a time.
  EXPECT_EQ(b.state(1010), State::kHalfOpen);
  EXPECT_TRUE(b.Allow(1010));
  EXPECT_FALSE(b.Allow(1011));
  b.OnFailure(1020);  // the trial failed: open again
  EXPECT_EQ(b.state(1500), State::kOpen);
  EXPECT_TRUE(b.Allow(2020));
  b.OnSuccess();  // the trial passed: closed
  EXPECT_EQ(b.state(2021), State::kClosed);
  EXPECT_TRUE(b.Allow(2021));
  EXPECT_TRUE(b.Allow(2021));
}

TEST(CircuitBreakerTest, AProbeSuccessClosesAnOpenCircuit) {
  CircuitBreaker b(1, 1'000'000);
  b.OnFailure(0);
  EXPECT_FALSE(b.Allow(1));
  b.OnSuccess();
  EXPECT_TRUE(b.Allow(2));
  EXPECT_EQ(CircuitBreaker::Name(State::kHalfOpen), "half_open");
}

}  // namespace
}  // namespace aperture::backends
