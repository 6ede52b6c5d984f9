#include "api/openai/remote_completion.h"

#include <chrono>
#include <memory>
#include <mutex>

#include "api/openai/event_stream.h"
#include "api/openai/remote_answer.h"
#include "backends/sse_parser.h"
#include "core/hash.h"
#include "core/random.h"
#include "fmt/format.h"
#include "spdlog/spdlog.h"

namespace aperture {
namespace {

using backends::RemoteBackends;

constexpr size_t kMaxRefusalMessage = 300;

int64_t SteadyMillis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// A backend's 4xx about the request, passed on: its message, shortened, as
// text only (never the backend's other fields).
std::string RefusalMessage(const std::string& body) {
  std::string message;
  absl::StatusOr<Json> json = ParseJson(body);
  if (json.ok() && json->is_object()) {
    auto error = json->find("error");
    if (error != json->end() && error->is_object()) {
      auto m = error->find("message");
      if (m != error->end() && m->is_string()) message = m->get<std::string>();
    } else if (error != json->end() && error->is_string()) {
      message = error->get<std::string>();
    }
  }
  if (message.size() > kMaxRefusalMessage) message = message.substr(0, kMaxRefusalMessage) + "...";
  return message.empty() ? "the backend refused the request" : "the backend refused the request: " + message;
}

// Whether a backend's status is its own trouble (try another) rather than
// the request's.
bool RetryableStatus(int status) { return status >= 500 || status == 408 || status == 429; }

class Proxy final : public std::enable_shared_from_this<Proxy> {
 public:
  Proxy(ApiDeps& d, RemoteCompletion run, AnswerRules rules, http::Response head, std::string actor, std::string owner,
        std::string request_hash, std::string route)
      : d_(d),
        run_(std::move(run)),
        rules_(std::move(rules)),
        head_(std::move(head)),
        actor_(std::move(actor)),
        owner_(std::move(owner)),
        request_hash_(std::move(request_hash)),
        route_(std::move(route)),
        // No notifier: d.streams is flushed by the scheduler's thread after
        // each engine step, which a proxied completion never takes; each
        // piece from the backend reaches the caller at once instead.
        stream_(std::make_shared<EventStream>()) {
    for (const RemoteBackends::Skipped& s : run_.plan.skipped) {
      skipped_.push_back({{"backend", s.id}, {"outcome", s.why}});
    }
  }

  std::shared_ptr<http::DeferredResponse> answer() const { return answer_; }

  void Start() {
    auto gone = [weak = weak_from_this()] {
      if (auto self = weak.lock()) self->ClientGone();
    };
    answer_->OnCancel(gone);
    stream_->OnCancel(gone);
    Try();
  }

 private:
  void ClientGone() {
    std::shared_ptr<backends::Exchange> exchange;
    {
      std::lock_guard<std::mutex> lock(mu_);
      client_gone_ = true;
      exchange = exchange_;
    }
    if (exchange) exchange->Cancel();
  }

  // The next backend of the plan, or the end of the plan.
  void Try() {
    while (next_ < run_.plan.order.size() && tried_ < d_.config.backends.max_attempts) {
      const RemoteBackends::Candidate& c = run_.plan.order[next_++];
      if (c.embedded) continue;  // the engine takes its share as a first choice only
      if (!d_.backends->Begin(c.id)) {
        attempts_.push_back({{"backend", c.id}, {"outcome", "circuit_open"}});
        continue;
      }
      ++tried_;
      current_ = &c;
      http_status_ = 0;
      body_.clear();
      failure_.clear();
      saw_done_ = false;
      sse_ = std::make_unique<backends::SseParser>(static_cast<size_t>(d_.config.backends.max_response_bytes));
      started_ms_ = SteadyMillis();
      backends::ExchangeRequest request;
      request.method = "POST";
      request.target = rules_.chat ? "/v1/chat/completions" : "/v1/completions";
      request.body = DumpJson(BackendRequestBody(run_.params, run_.adjust, c.api_model, run_.system_prompt));
      request.bearer = c.bearer;
      backends::ExchangeTimeouts timeouts;
      timeouts.connect = std::chrono::milliseconds(d_.config.backends.connect_timeout_ms);
      timeouts.head = std::chrono::milliseconds(d_.config.backends.first_byte_timeout_ms);
      timeouts.idle = std::chrono::milliseconds(answered_ ? d_.config.backends.idle_timeout_ms
                                                          : d_.config.backends.first_byte_timeout_ms);
      auto self = shared_from_this();
      auto exchange =
          d_.backend_client->Start(c.url, std::move(request), timeouts,
                                   {.on_head = [self](int status, const std::string&) { self->http_status_ = status; },
                                    .on_body = [self](std::string_view piece) { return self->OnBody(piece); },
                                    .on_done = [self](absl::Status status) { self->OnDone(std::move(status)); }});
      bool cancel = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        exchange_ = exchange;
        cancel = client_gone_;
      }
      if (cancel) exchange->Cancel();
      return;
    }
    NoBackend();
  }

  bool OnBody(std::string_view piece) {
    if (http_status_ != 200 || !rules_.stream) {
      if (body_.size() + piece.size() > static_cast<size_t>(d_.config.backends.max_response_bytes)) {
        failure_ = "too_large";
        return false;
      }
      body_.append(piece);
      return true;
    }
    std::vector<std::string> events;
    absl::Status parsed = sse_->Feed(piece, events);
    if (!parsed.ok()) {
      failure_ = "bad_stream";
      return false;
    }
    for (const std::string& data : events) {
      if (data == "[DONE]") {
        saw_done_ = true;
        continue;
      }
      absl::StatusOr<Json> json = ParseJson(data);
      absl::StatusOr<CheckedChunk> chunk =
          json.ok() ? CheckChunk(*json, rules_) : absl::StatusOr<CheckedChunk>(json.status());
      if (!chunk.ok()) {
        failure_ = absl::IsUnavailable(chunk.status()) ? "backend_error_event" : "bad_stream";
        return false;
      }
      if (chunk->usage) usage_ = chunk->usage;
      text_ += chunk->text;
      content_events_ += chunk->content_events;
      for (const Json& f : chunk->finish_reasons) finish_reasons_.push_back(f);
      if (chunk->chunk) {
        stream_->Push("data: " + DumpJson(*chunk->chunk) + "\n\n");
        AnswerWithStream();
      }
      // A backend that runs past the tokens asked for is cut: the level's
      // max_tokens holds whatever the backend does.
      if (content_events_ > run_.adjust.max_tokens * run_.params.n) {
        capped_ = true;
        return false;
      }
    }
    return true;
  }

  void AnswerWithStream() {
    if (answered_) return;
    answered_ = true;
    http::Response r = head_;
    r.stream = stream_;
    answer_->Resolve(std::move(r));
  }

  void OnDone(absl::Status status) {
    const RemoteBackends::Candidate& c = *current_;
    const int64_t ms = SteadyMillis() - started_ms_;
    bool gone;
    {
      std::lock_guard<std::mutex> lock(mu_);
      gone = client_gone_;
      exchange_.reset();
    }
    if (gone) {
      d_.backends->Report(c.id, true);  // says nothing about the backend
      attempts_.push_back({{"backend", c.id}, {"outcome", "client_gone"}, {"ms", ms}});
      return Record("error", "client_gone");
    }
    if (answered_) return EndStream(c, status, ms);
    std::string outcome;
    if (!failure_.empty()) {
      outcome = failure_;
    } else if (!status.ok()) {
      outcome = absl::IsDeadlineExceeded(status) ? "timeout" : "unavailable";
    } else if (RetryableStatus(http_status_)) {
      outcome = fmt::format("status_{}", http_status_);
    } else if (http_status_ != 200) {
      // The request's own problem (a 4xx): passed on, not retried.
      d_.backends->Report(c.id, true);
      attempts_.push_back({{"backend", c.id}, {"outcome", fmt::format("refused_{}", http_status_)}, {"ms", ms}});
      // Recorded before the caller can see the answer (as every outcome here).
      Record("error", "backend_refused");
      return answer_->Resolve(http::ErrorResponse(http_status_, RefusalMessage(body_), "backend_refused"));
    } else if (rules_.stream) {
      outcome = saw_done_ ? "empty_answer" : "ended_early";
    } else {
      absl::StatusOr<Json> json = ParseJson(body_);
      absl::StatusOr<CheckedAnswer> checked =
          json.ok() ? CheckAnswer(*json, rules_) : absl::StatusOr<CheckedAnswer>(json.status());
      if (checked.ok()) {
        d_.backends->Report(c.id, true);
        attempts_.push_back({{"backend", c.id}, {"outcome", "ok"}, {"ms", ms}});
        served_by_ = c.id;
        usage_ = checked->usage;
        text_ = checked->text;
        finish_reasons_ = checked->finish_reasons;
        content_events_ = static_cast<int64_t>(checked->finish_reasons.size());
        if (!usage_) checked->body["usage"] = UsageJson(Usage());
        http::Response r = head_;
        r.body = DumpJson(checked->body);
        Record("ok", "ok");
        return answer_->Resolve(std::move(r));
      }
      outcome = "bad_response";
    }
    d_.backends->Report(c.id, false);
    attempts_.push_back({{"backend", c.id}, {"outcome", outcome}, {"ms", ms}});
    spdlog::info("backend {} of model {} failed before answering ({}): {}", c.id, run_.model_id, outcome,
                 std::string(status.message()));
    Try();
  }

  // The end of a stream that had begun: the backend's failure can no longer
  // change the status, so it ends with an error event.
  void EndStream(const RemoteBackends::Candidate& c, const absl::Status& status, int64_t ms) {
    served_by_ = c.id;
    const bool ok = capped_ || (status.ok() && failure_.empty() && (saw_done_ || !sse_->in_event()));
    d_.backends->Report(c.id, ok || capped_);
    attempts_.push_back({{"backend", c.id},
                         {"outcome", ok ? (capped_ ? "cut_at_max_tokens" : "ok") : "failed_mid_stream"},
                         {"ms", ms}});
    if (!ok) {
      stream_->Push("data: " +
                    DumpJson({{"error",
                               {{"message", "the backend serving this completion failed while streaming it"},
                                {"type", "server_error"},
                                {"code", "backend_error"},
                                {"param", nullptr}}}}) +
                    "\n\n");
    } else if (rules_.include_usage) {
      stream_->Push(UsageChunk(Usage(), rules_));
    }
    Record(ok ? "ok" : "error", ok ? (capped_ ? "cut_at_max_tokens" : "ok") : "backend_failed_mid_stream");
    stream_->Push("data: [DONE]\n\n");
    stream_->Finish();
  }

  void NoBackend() {
    const int64_t retry_after = std::max<int64_t>(1, run_.plan.retry_after_seconds);
    http::Response r = http::ErrorResponse(
        503,
        fmt::format("no backend of model '{}' can answer now ({} tried, {} out of rotation); retry in {} s",
                    run_.model_id, tried_, skipped_.size(), retry_after),
        "backends_unavailable");
    r.SetHeader("Retry-After", std::to_string(retry_after));
    Record("error", "backends_unavailable");
    answer_->Resolve(std::move(r));
  }

  // Usage as reported, or counted: content events for completion tokens,
  // the prompt estimated.
  BackendUsage Usage() const {
    if (usage_) return *usage_;
    return BackendUsage{run_.prompt_estimate, content_events_};
  }
  static Json UsageJson(const BackendUsage& u) {
    return {{"prompt_tokens", u.prompt_tokens},
            {"completion_tokens", u.completion_tokens},
            {"total_tokens", u.prompt_tokens + u.completion_tokens}};
  }

  void Record(const std::string& outcome, const std::string& reason) {
    const bool served = !served_by_.empty();
    const BackendUsage used = served ? Usage() : BackendUsage{};
    const int64_t total = used.prompt_tokens + used.completion_tokens;
    run_.charges.Settle({.tokens = total});
    const int64_t now = d_.clock.NowSeconds();
    if (served) d_.usage.Add(owner_, run_.model_id, now, used.prompt_tokens, used.completion_tokens);
    Json details = {{"route", route_},
                    {"request_sha256", request_hash_},
                    {"response_sha256", Sha256Hex(text_)},
                    {"prompt_tokens", used.prompt_tokens},
                    {"completion_tokens", used.completion_tokens},
                    {"usage_source", !served ? "none" : (usage_ ? "backend" : "counted")},
                    {"finish_reasons", finish_reasons_},
                    {"served_by", served ? Json(served_by_) : Json(nullptr)},
                    {"routing", {{"skipped", skipped_}, {"attempts", attempts_}}}};
    d_.recorder.Record(LogEvent{"completion", now, actor_, run_.model_id, std::string(LevelName(run_.level)), outcome,
                                reason, CanonicalJson(details)});
  }

  ApiDeps& d_;
  const RemoteCompletion run_;
  const AnswerRules rules_;
  const http::Response head_;
  const std::string actor_, owner_, request_hash_, route_;
  std::shared_ptr<EventStream> stream_;
  std::shared_ptr<http::DeferredResponse> answer_ = std::make_shared<http::DeferredResponse>();

  std::mutex mu_;
  std::shared_ptr<backends::Exchange> exchange_;  // guarded by mu_
  bool client_gone_ = false;                      // guarded by mu_

  // The rest is touched by one exchange's callbacks at a time (the next
  // exchange starts from the last callback of the one before).
  size_t next_ = 0;
  int64_t tried_ = 0;
  const RemoteBackends::Candidate* current_ = nullptr;
  int http_status_ = 0;
  std::string body_;
  std::string failure_;
  bool saw_done_ = false;
  bool capped_ = false;
  bool answered_ = false;
  std::unique_ptr<backends::SseParser> sse_;
  int64_t started_ms_ = 0;
  std::string served_by_;
  std::optional<BackendUsage> usage_;
  int64_t content_events_ = 0;
  std::string text_;
  Json finish_reasons_ = Json::array();
  Json skipped_ = Json::array();
  Json attempts_ = Json::array();
};

}  // namespace

http::Response ProxyCompletion(ApiDeps& d, RequestContext& ctx, RemoteCompletion run) {
  AnswerRules rules;
  rules.chat = run.params.chat;
  rules.stream = run.params.stream;
  rules.id = (rules.chat ? "chatcmpl-" : "cmpl-") + NewId("x").substr(2);
  rules.created = d.clock.NowSeconds();
  rules.model = run.model_id;
  rules.logprobs = run.params.logprobs;
  rules.top_logprobs = run.params.top_logprobs;
  rules.n = run.params.n;
  rules.include_usage = run.params.include_usage;
  http::Response head;
  head.content_type = rules.stream ? "text/event-stream" : "application/json";
  if (rules.stream) head.SetHeader("Cache-Control", "no-cache");
  head.SetHeader("X-Aperture-Level", std::string(LevelName(run.level)));
  if (run.adjust.max_tokens_clamped) head.SetHeader("X-Aperture-Max-Tokens", std::to_string(run.adjust.max_tokens));
  std::string owner = run.usage_owner;
  auto proxy = std::make_shared<Proxy>(d, std::move(run), std::move(rules), std::move(head), ctx.caller.actor(),
                                       std::move(owner), Sha256Hex(ctx.request.body), ctx.route->name);
  proxy->Start();
  return http::LaterResponse(proxy->answer());
}

}  // namespace aperture
