// A completion served by remote backends: sent to the first backend of the
// plan (after Aperture's own authentication, authorization, parameter
// limits and rate limits, which the request has passed), and to the next
// one whenever a backend fails before the caller has received a byte
// (cannot connect, times out, answers 5xx, 429 or something that is not an
// answer), up to `backends.max_attempts`. Nothing goes to the caller, not
// even the status line, before a backend has produced the first event of a
// stream or a whole answer (http::PendingResponse); once something has, a
// failure ends the stream with an error event instead. Every backend
// failing is a 503 with Retry-After.
//
// The answer is rebuilt under the caller's request and level
// (remote_answer.h); usage comes from the backend's `usage` or, when it
// reports none, is counted (content events, and the prompt estimated); the
// completion's log entry carries the backend that answered and every
// routing decision (backends skipped and why, each attempt and its outcome).
//
// Thread-safety: the exchange's callbacks run on the backend client's
// threads, one at a time; a caller going away (any server thread) cancels.
#pragma once

#include <cstdint>
#include <string>

#include "api/api_deps.h"
#include "api/openai/completion_params.h"
#include "api/openai/level_checks.h"
#include "backends/remote_backends.h"
#include "filters/request_context.h"
#include "http/response.h"

namespace aperture {

// What the serving route decided before handing a completion to backends.
struct RemoteCompletion {
  CompletionParams params;
  LevelAdjustments adjust;
  Level level = Level::kClosed;
  std::string model_id;
  std::string system_prompt;  // "" unless the level puts the owner's first
  backends::RemoteBackends::Plan plan;
  // What admission charged the request (its token estimate), settled with
  // what the backend used once the completion ends, whatever the outcome.
  Charges charges;
  std::string usage_owner;      // the principal's id, or "anonymous"
  int64_t prompt_estimate = 0;  // tokens, for a backend that reports no usage
};

http::Response ProxyCompletion(ApiDeps& d, RequestContext& ctx, RemoteCompletion run);

}  // namespace aperture
