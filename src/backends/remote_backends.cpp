#include "backends/remote_backends.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>

#include "core/random.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace aperture::backends {
namespace {

std::mt19937_64& Rng() {
  thread_local std::mt19937_64 rng([] {
    uint64_t seed = 0;
    const std::string bytes = RandomBytes(sizeof seed);
    std::memcpy(&seed, bytes.data(), sizeof seed);
    return seed;
  }());
  return rng;
}

}  // namespace

RemoteBackends::RemoteBackends(Store& store, const BackendsConfig& config, BackendClient& client)
    : store_(store), config_(config), lifeline_(std::make_shared<Lifeline>()), client_(client) {
  absl::MutexLock lock(&lifeline_->mu);
  lifeline_->owner = this;
}

RemoteBackends::~RemoteBackends() {
  Stop();
  absl::MutexLock lock(&lifeline_->mu);
  lifeline_->owner = nullptr;
}

void RemoteBackends::Stop() {
  stopping_.store(true);
  if (thread_.joinable()) thread_.join();
}

int64_t RemoteBackends::NowMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void RemoteBackends::Start() {
  absl::Status s = Refresh();
  if (!s.ok()) spdlog::warn("could not read the model backends: {}", std::string(s.message()));
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "backend-probes");
    Run();
  });
}

absl::Status RemoteBackends::Refresh() {
  absl::StatusOr<std::vector<ModelBackend>> rows = store_.ListModelBackends("");
  if (!rows.ok()) return rows.status();
  absl::MutexLock lock(&mu_);
  std::map<std::string, std::unique_ptr<State>> next;
  for (const ModelBackend& row : *rows) {
    auto it = backends_.find(row.id);
    std::unique_ptr<State> state;
    if (it != backends_.end() && it->second->row.url == row.url && it->second->row.api_key_env == row.api_key_env &&
        it->second->row.api_model == row.api_model) {
      state = std::move(it->second);  // keeps its health and circuit
    } else {
      state = std::make_unique<State>(
          CircuitBreaker(static_cast<int>(config_.breaker_failures), config_.breaker_open_ms * 1000));
      if (row.url != kEmbeddedBackendUrl) {
        absl::StatusOr<HttpUrl> url = ParseHttpUrl(row.url);
        if (url.ok()) {
          state->url = *url;
        } else {
          state->token_problem = std::string(url.status().message());
        }
      }
    }
    state->row = row;
    state->bearer.clear();
    if (!row.api_key_env.empty() && state->url) {
      const char* token = std::getenv(row.api_key_env.c_str());
      if (token == nullptr || *token == '\0') {
        state->token_problem = fmt::format(
            "the environment variable {} (the backend's token) is not set on this replica", row.api_key_env);
      } else {
        state->bearer = token;
        state->token_problem.clear();
      }
    }
    next[row.id] = std::move(state);
  }
  backends_ = std::move(next);
  return absl::OkStatus();
}

void RemoteBackends::Run() {
  auto last_refresh = std::chrono::steady_clock::now();
  while (!stopping_.load()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const auto now = std::chrono::steady_clock::now();
    if (now - last_refresh >= std::chrono::seconds(1)) {
      last_refresh = now;
      absl::Status s = Refresh();
      if (!s.ok()) spdlog::warn("could not re-read the model backends: {}", std::string(s.message()));
    }
    std::vector<std::pair<std::string, bool>> due;
    {
      absl::MutexLock lock(&mu_);
      for (auto& [id, state] : backends_) {
        if (!state->url || !state->token_problem.empty()) continue;
        if (!state->live_probe_out && now >= state->next_live) {
          state->live_probe_out = true;
          state->next_live = now + std::chrono::milliseconds(config_.health_interval_ms);
          due.emplace_back(id, false);
        }
        if (!state->ready_probe_out && now >= state->next_ready) {
          state->ready_probe_out = true;
          state->next_ready = now + std::chrono::milliseconds(config_.ready_interval_ms);
          due.emplace_back(id, true);
        }
      }
    }
    for (const auto& [id, readiness] : due) Probe(id, readiness);
  }
}

void RemoteBackends::Probe(const std::string& id, bool readiness) {
  HttpUrl url;
  ExchangeRequest request;
  {
    absl::MutexLock lock(&mu_);
    auto it = backends_.find(id);
    if (it == backends_.end() || !it->second->url) return;
    url = *it->second->url;
    request.bearer = it->second->bearer;
    if (readiness) {
      const std::string model =
          it->second->row.api_model.empty() ? it->second->row.model_id : it->second->row.api_model;
      request.method = "POST";
      request.target = "/v1/chat/completions";
      request.body = DumpJson(Json{{"model", model},
                                   {"messages", Json::array({Json{{"role", "user"}, {"content", "Hello"}}})},
                                   {"max_tokens", 1},
                                   {"stream", false}});
    } else {
      request.method = "GET";
      request.target = "/v1/models";
    }
  }
  ExchangeTimeouts timeouts;
  timeouts.connect = std::chrono::milliseconds(config_.connect_timeout_ms);
  // A probe that takes longer than its interval counts as failed.
  const int64_t interval = readiness ? config_.ready_interval_ms : config_.health_interval_ms;
  timeouts.head = std::chrono::milliseconds(std::min(config_.first_byte_timeout_ms, std::max<int64_t>(interval, 1000)));
  timeouts.idle = timeouts.head;
  struct ProbeState {
    int status = 0;
    std::string body;
  };
  auto probe = std::make_shared<ProbeState>();
  client_.Start(url, std::move(request), timeouts,
                {.on_head = [probe](int status, const std::string&) { probe->status = status; },
                 .on_body =
                     [probe](std::string_view piece) {
                       if (probe->body.size() + piece.size() > (1 << 20)) return false;
                       probe->body.append(piece);
                       return true;
                     },
                 .on_done =
                     [lifeline = lifeline_, id, readiness, probe](absl::Status status) {
                       bool ok = status.ok() && probe->status == 200;
                       std::string error;
                       if (!status.ok()) {
                         error = std::string(status.message());
                       } else if (probe->status != 200) {
                         error = fmt::format("answered HTTP {}", probe->status);
                       } else if (readiness) {
                         absl::StatusOr<Json> json = ParseJson(probe->body);
                         ok = json.ok() && json->is_object() && json->contains("choices") &&
                              (*json)["choices"].is_array() && !(*json)["choices"].empty();
                         if (!ok) error = "its one-token completion had no choice in it";
                       }
                       absl::MutexLock lock(&lifeline->mu);
                       if (lifeline->owner != nullptr) lifeline->owner->ProbeDone(id, readiness, ok, error);
                     }});
}

void RemoteBackends::ProbeDone(const std::string& id, bool readiness, bool ok, const std::string& error) {
  absl::MutexLock lock(&mu_);
  auto it = backends_.find(id);
  if (it == backends_.end()) return;
  State& s = *it->second;
  (readiness ? s.ready_probe_out : s.live_probe_out) = false;
  std::optional<bool>& flag = readiness ? s.ready : s.live;
  if (flag != ok) {
    spdlog::info("backend {} of model {} is {}{}", id, s.row.model_id,
                 ok ? (readiness ? "ready" : "live") : (readiness ? "not ready" : "not live"), ok ? "" : ": " + error);
  }
  flag = ok;
  if (!ok) s.last_error = (readiness ? "readiness probe: " : "liveness probe: ") + error;
  // An open circuit's trial, once its time is up, may be the readiness
  // probe: a real completion that passed.
  if (ok && readiness && s.breaker.state(NowMicros()) == CircuitBreaker::State::kHalfOpen) s.breaker.OnSuccess();
}

RemoteBackends::Plan RemoteBackends::PlanFor(const std::string& model_id, bool embedded_possible) {
  Plan plan;
  const int64_t now = NowMicros();
  int64_t soonest = 0;
  struct Weighted {
    Candidate c;
    int64_t weight;
  };
  std::vector<Weighted> usable;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, state] : backends_) {
      const State& s = *state;
      if (s.row.model_id != model_id) continue;
      plan.configured = true;
      Candidate c;
      c.id = id;
      if (s.row.url == kEmbeddedBackendUrl) {
        if (!embedded_possible) {
          plan.skipped.push_back({id, "no_model_file"});
          continue;
        }
        c.embedded = true;
        usable.push_back({std::move(c), s.row.weight});
        continue;
      }
      if (!s.url || !s.token_problem.empty()) {
        plan.skipped.push_back({id, s.url ? "no_token" : "bad_url"});
        continue;
      }
      if (s.live == false) {
        plan.skipped.push_back({id, "not_live"});
        continue;
      }
      if (s.ready == false) {
        plan.skipped.push_back({id, "not_ready"});
        continue;
      }
      if (s.breaker.state(now) == CircuitBreaker::State::kOpen) {
        plan.skipped.push_back({id, "circuit_open"});
        const int64_t at = s.breaker.reopens_at();
        if (soonest == 0 || at < soonest) soonest = at;
        continue;
      }
      c.url = *s.url;
      c.api_model = s.row.api_model.empty() ? s.row.model_id : s.row.api_model;
      c.bearer = s.bearer;
      usable.push_back({std::move(c), s.row.weight});
    }
  }
  // Weighted random order, without replacement.
  while (!usable.empty()) {
    int64_t total = 0;
    for (const Weighted& w : usable) total += std::max<int64_t>(1, w.weight);
    int64_t pick = std::uniform_int_distribution<int64_t>(0, total - 1)(Rng());
    size_t i = 0;
    for (; i + 1 < usable.size(); ++i) {
      pick -= std::max<int64_t>(1, usable[i].weight);
      if (pick < 0) break;
    }
    plan.order.push_back(std::move(usable[i].c));
    usable.erase(usable.begin() + static_cast<std::ptrdiff_t>(i));
  }
  if (soonest > now) {
    plan.retry_after_seconds = std::max<int64_t>(1, (soonest - now + 999'999) / 1'000'000);
  } else {
    plan.retry_after_seconds = std::max<int64_t>(1, (config_.health_interval_ms + 999) / 1000);
  }
  return plan;
}

bool RemoteBackends::Begin(const std::string& backend_id) {
  absl::MutexLock lock(&mu_);
  auto it = backends_.find(backend_id);
  if (it == backends_.end()) return false;
  if (it->second->row.url == kEmbeddedBackendUrl) return true;
  if (!it->second->breaker.Allow(NowMicros())) return false;
  ++it->second->in_flight;
  return true;
}

void RemoteBackends::Report(const std::string& backend_id, bool ok) {
  absl::MutexLock lock(&mu_);
  auto it = backends_.find(backend_id);
  if (it == backends_.end() || it->second->row.url == kEmbeddedBackendUrl) return;
  State& s = *it->second;
  --s.in_flight;
  if (ok) {
    s.breaker.OnSuccess();
    return;
  }
  const bool was_open = s.breaker.state(NowMicros()) == CircuitBreaker::State::kOpen;
  s.breaker.OnFailure(NowMicros());
  if (!was_open && s.breaker.state(NowMicros()) == CircuitBreaker::State::kOpen) {
    spdlog::warn("backend {} of model {}: circuit open for {} ms after failed requests", backend_id, s.row.model_id,
                 config_.breaker_open_ms);
  }
}

int64_t RemoteBackends::in_flight() {
  absl::MutexLock lock(&mu_);
  int64_t total = 0;
  for (const auto& [id, state] : backends_) total += state->in_flight;
  return total;
}

Json RemoteBackends::Describe(const std::string& model_id) {
  absl::MutexLock lock(&mu_);
  Json out = Json::array();
  const int64_t now = NowMicros();
  for (const auto& [id, state] : backends_) {
    const State& s = *state;
    if (!model_id.empty() && s.row.model_id != model_id) continue;
    auto tri = [](const std::optional<bool>& b) { return b ? Json(*b) : Json(nullptr); };
    Json v = {{"id", id},
              {"model", s.row.model_id},
              {"url", s.row.url},
              {"api_model", s.row.api_model},
              {"weight", s.row.weight},
              {"api_key_env", s.row.api_key_env},
              {"created_at", s.row.created_at}};
    if (s.row.url != kEmbeddedBackendUrl) {
      v["live"] = tri(s.live);
      v["ready"] = tri(s.ready);
      v["circuit"] = std::string(CircuitBreaker::Name(s.breaker.state(now)));
      v["in_flight"] = s.in_flight;
      v["problem"] = s.token_problem.empty() ? Json(nullptr) : Json(s.token_problem);
      v["last_error"] = s.last_error.empty() ? Json(nullptr) : Json(s.last_error);
    }
    out.push_back(std::move(v));
  }
  return out;
}

}  // namespace aperture::backends
