// Charges: what a request was charged when it was admitted (tokens taken
// from a budget before the engine ran, say), settled once its real use is
// known, so a quota can take an estimate up front and correct it after.
//
// The admission filter's quotas add charges; the handler settles them when
// its work ends (an engine callback, on any thread). A request answered at
// once is settled by the pipeline with nothing used, so a refusal after
// admission (a bad parameter, a full queue) gives every charge back. Settle
// runs once; later calls do nothing.
//
// Usage:
//   ctx.charges.Add([&limiter, key, cost](const Usage& used) { limiter.Settle(key, rate, cost, used.tokens); });
//   ... on_done: charges.Settle({.tokens = done.prompt_tokens + done.completion_tokens});
//
// Thread-safety: thread-safe; copies share the same charges.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

namespace aperture {

// What a request used, as its handler reports it. Quotas that meter other
// resources (research compute, bytes returned, fine-tuning jobs) add fields.
struct Usage {
  int64_t tokens = 0;  // prompt and completion tokens (embeddings: input tokens)
};

class Charges {
 public:
  // Adds what to do at settlement. Not after Settle.
  void Add(std::function<void(const Usage&)> settle);
  // Settles every charge with the request's real use; only the first call counts.
  void Settle(const Usage& used) const;
  bool empty() const { return state_ == nullptr; }

 private:
  struct State {
    std::atomic<bool> settled{false};
    std::vector<std::function<void(const Usage&)>> settles;
  };
  std::shared_ptr<State> state_;  // null until the first charge
};

}  // namespace aperture
