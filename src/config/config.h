// Config: one typed, validated, immutable description of how the server runs
// and what each release level allows. Loaded from TOML; every field has a
// documented default (docs/config.md), so no file is needed to start.
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aperture/level.h"

namespace aperture {

// Whether a level may bias logits: never, only when the request asks for no
// logprobs (together they let a caller extract the output layer, Carlini et
// al. 2024), or always.
enum class LogitBias { kNever = 0, kWithoutLogprobs, kAlways };

// What a research caller may read and write (TransformerLens site
// patterns with '*') and compute; see access/research_scope.h. Zero
// max_tokens/max_bytes allow nothing; zero rates are unlimited.
struct ResearchScope {
  std::vector<std::string> inspect_sites;    // site patterns that may be read
  std::vector<std::string> intervene_sites;  // site patterns that may be written
  int64_t max_tokens = 0;                    // forward-pass tokens per request
  int64_t max_bytes = 0;                     // result bytes per request
  int64_t tokens_per_minute = 0;             // forward-pass tokens per minute, per caller and model
  int64_t requests_per_day = 0;              // research requests per UTC day, per caller and model
};

// What one release level allows. Zero limits mean "none allowed" for
// max_tokens/top_logprobs and "unlimited" for the per-minute rates.
struct LevelLimits {
  std::bitset<kAllCapabilities.size()> capabilities;
  int64_t max_tokens = 0;           // per request
  int64_t requests_per_minute = 0;  // per caller and model
  int64_t tokens_per_minute = 0;    // per caller and model
  int64_t max_top_logprobs = 0;     // logprobs alternatives per token
  int64_t max_n = 1;                // completions per request
  LogitBias logit_bias = LogitBias::kNever;
  bool system_prompt = false;  // the model owner's system prompt is prepended
  ResearchScope research;      // with the inspect and intervene capabilities

  bool Allows(Capability c) const { return capabilities.test(static_cast<size_t>(c)); }
};

struct ServerConfig {
  int threads = 0;  // 0 = one per core
  int64_t max_header_bytes = 16 * 1024;
  int64_t max_body_bytes = 1024 * 1024;
  int64_t header_timeout_ms = 10'000;  // a request's header, from its first byte
  int64_t body_timeout_ms = 30'000;    // its body, from the header's end
  int64_t idle_timeout_ms = 30'000;
  int64_t max_connections = 4096;
};

// The transparency log.
struct LogConfig {
  // The log's name: the origin line of its checkpoints and the name of the
  // key that signs them. Best a schema-less URL of the log, e.g.
  // "models.example.org/log"; no spaces, no '+'.
  std::string name = "aperture.local/log";
};

// The inference scheduler (src/scheduler): continuous batching limits.
struct ServingConfig {
  int threads = 0;                        // engine threads; 0 = one per core
  int64_t max_active = 16;                // sequences decoded together
  int64_t max_waiting = 64;               // requests queued behind them; beyond: 503
  int64_t prefill_tokens_per_step = 128;  // prompt tokens per step, so long prompts do not stall streams
  int64_t research_tokens_per_step = 8;   // research-pass tokens per step while streams decode
  int64_t request_timeout_ms = 300'000;   // a request still running after this ends
  int64_t max_context = 0;                // > 0: cap every model's context at this many tokens
};

// Browser sessions (the web interface signs in with an API key once).
struct SessionConfig {
  int64_t ttl_seconds = 12 * 3600;  // a session ends this long after sign-in (never after its key)
  // Mark the cookie Secure: set it when browsers reach the server over TLS
  // (a proxy in front); a Secure cookie is not sent over plain http.
  bool secure_cookie = false;
};

// Remote inference backends (src/backends, docs/deploy.md): timeouts,
// health checks and the circuit breaker.
struct BackendsConfig {
  int64_t connect_timeout_ms = 2'000;
  int64_t first_byte_timeout_ms = 60'000;  // from sending the request to the response's first event
  int64_t idle_timeout_ms = 30'000;        // between two chunks of a streamed response
  int64_t health_interval_ms = 2'000;      // liveness probe (GET /v1/models) of each backend
  int64_t ready_interval_ms = 10'000;      // readiness probe: a real one-token completion
  int64_t breaker_failures = 3;            // consecutive failures that open a backend's circuit
  int64_t breaker_open_ms = 5'000;         // how long an open circuit sends it nothing
  int64_t max_attempts = 3;                // backends tried for one request before its first byte
  int64_t max_response_bytes = 16 << 20;   // a whole (unstreamed) response, and one streamed event
};

struct Config {
  ServerConfig server;
  SessionConfig sessions;
  LogConfig log;
  ServingConfig serving;
  BackendsConfig backends;
  std::array<LevelLimits, kAllLevels.size()> levels;
  // Requests per minute for routes that name no model (listing, admin), per
  // principal, and per client address for anonymous callers.
  int64_t principal_requests_per_minute = 1200;
  int64_t anonymous_requests_per_minute = 120;
  // How long a denied requester waits before asking again for the same model.
  int64_t access_request_retry_seconds = 7 * 86400;
  // The highest level a reviewer may grant or approve; above it, only an
  // owner (`download` and `open` hand over the weights).
  Level reviewer_grant_limit = Level::kResearch;

  const LevelLimits& Limits(Level l) const { return levels[static_cast<size_t>(l)]; }
  // The lowest level whose capabilities include `c`; nullopt if none does.
  std::optional<Level> LowestLevelWith(Capability c) const;
};

Config DefaultConfig();

// Parses TOML text; `source` names the file in errors. Errors name the line,
// the key and what is wrong; unknown keys are errors (a typo must not pass).
absl::StatusOr<Config> ParseConfig(std::string_view toml_text, std::string_view source);
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

}  // namespace aperture
