#include "api/openai/serving_routes.h"

#include <atomic>
#include <memory>

#include "api/body_fields.h"
#include "api/openai/completion_params.h"
#include "api/openai/completion_response.h"
#include "api/openai/event_stream.h"
#include "api/openai/level_checks.h"
#include "api/research/research_routes.h"
#include "api/views.h"
#include "core/base64.h"
#include "core/hash.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "core/time_format.h"
#include "filters/request_context.h"
#include "filters/status_response.h"
#include "fmt/format.h"

namespace aperture {
namespace {

using scheduler::ChoiceEnd;
using scheduler::GenerateDone;
using scheduler::TokenEvent;

// The principal usage is counted under: a principal id, or "anonymous".
std::string UsageOwner(const Caller& caller) { return caller.anonymous() ? "anonymous" : caller.principal->id; }

http::Response Refusal(RequestContext& ctx, const absl::Status& status, std::string reason) {
  ctx.Deny(std::move(reason));
  return StatusResponse(status);
}

// A scheduler refusal: a full queue is 503 with Retry-After.
http::Response SubmitError(const absl::Status& status) {
  http::Response r = StatusResponse(status);
  if (absl::IsUnavailable(status)) r.SetHeader("Retry-After", "1");
  return r;
}

// Makes sure the scheduler knows the model's file; loading happens on first use.
absl::Status EnsureModel(ApiDeps& d, const Model& model) {
  absl::Status s = d.scheduler.RegisterModel(model.id, model.path);
  return absl::IsAlreadyExists(s) ? absl::OkStatus() : s;
}

// Rough size in tokens of text before the scheduler tokenizes it, for the
// token budget; the difference is settled when the real counts are known.
int64_t EstimateTextTokens(size_t bytes) { return static_cast<int64_t>(bytes / 4 + 1); }

int64_t EstimatePromptTokens(const CompletionParams& p) {
  if (!p.prompt_tokens.empty()) return static_cast<int64_t>(p.prompt_tokens.size());
  size_t bytes = p.prompt.size();
  for (const ChatMessage& m : p.messages) bytes += m.content.size() + 16;
  return EstimateTextTokens(bytes);
}

// The most a completion may spend: its prompt and n times the max_tokens
// its level allows it. A request the handler will refuse spends nothing.
int64_t CompletionTokenEstimate(const Config& config, const RequestContext& ctx, bool chat) {
  auto params = ParseCompletionParams(ctx.body, chat);
  if (!params.ok()) return 0;
  auto adjust = ApplyLevel(*params, ctx.decision->level, config);
  if (!adjust.ok()) return 0;
  return EstimatePromptTokens(*params) + adjust->max_tokens * params->n;
}

int64_t EmbeddingTokenEstimate(const RequestContext& ctx) {
  auto params = ParseEmbeddingParams(ctx.body);
  if (!params.ok()) return 0;
  int64_t tokens = 0;
  for (const std::string& input : params->inputs) tokens += EstimateTextTokens(input.size());
  return tokens;
}

// The answer to a request whose engine work failed: never a 200. A full
// queue or a stopping server is 503 with Retry-After; an engine failure is
// a 500 that says so (its details stay in the server's log).
http::Response EngineFailure(const absl::Status& status) {
  if (HttpStatusFor(status.code()) != 500) return SubmitError(status);
  return http::ErrorResponse(500, "the model failed while running this request; try again", "engine_error");
}

// What one running completion shares between the handler and the scheduler's callbacks.
struct Completion {
  Completion(CompletionParams p, std::string id, int64_t created, std::string model, StreamNotifier& streams)
      : params(std::move(p)),
        response(params, std::move(id), created, std::move(model)),
        stream(std::make_shared<EventStream>(&streams)) {}
  CompletionParams params;
  CompletionResponse response;
  std::shared_ptr<EventStream> stream;
  // Nothing, not even the status line, goes out before the engine has
  // either produced a token (a stream) or finished (a whole body), so a
  // failure before then is answered with its own status.
  std::shared_ptr<http::DeferredResponse> answer = std::make_shared<http::DeferredResponse>();
  http::Response head;    // status and headers of a successful answer
  bool answered = false;  // scheduler thread only
  // Answers with the stream now that it has something to say.
  void AnswerWithStream() {
    if (answered) return;
    answered = true;
    http::Response r = head;
    r.stream = stream;
    answer->Resolve(std::move(r));
  }
};

http::Response HandleCompletion(ApiDeps& d, RequestContext& ctx, bool chat) {
  const Model& model = *ctx.decision->model;
  const Level level = ctx.decision->level;
  auto params = ParseCompletionParams(ctx.body, chat);
  if (!params.ok()) return StatusResponse(params.status());
  auto adjust = ApplyLevel(*params, level, d.config);
  if (!adjust.ok()) return Refusal(ctx, adjust.status(), "parameter_above_level");
  if (absl::Status s = EnsureModel(d, model); !s.ok()) return StatusResponse(s);
  auto loaded = d.scheduler.GetModel(model.id);
  if (!loaded.ok()) return StatusResponse(absl::UnavailableError(std::string(loaded.status().message())));

  scheduler::GenerateRequest req;
  req.model = model.id;
  if (chat) {
    if (adjust->prepend_system_prompt && !model.system_prompt.empty()) {
      req.messages.push_back({"system", model.system_prompt});
    }
    for (const ChatMessage& m : params->messages) req.messages.push_back({m.role, m.content});
  } else if (!params->prompt_tokens.empty()) {
    req.prompt_tokens = params->prompt_tokens;
  } else {
    req.prompt = params->prompt;
  }
  // Without an explicit max_tokens, a level cap at or above the context
  // means "until the context is full" (0), as OpenAI does.
  const bool open_ended = !params->max_tokens && adjust->max_tokens >= (*loaded)->context_length;
  req.max_tokens = open_ended ? 0 : static_cast<int>(adjust->max_tokens);
  req.n = static_cast<int>(params->n);
  req.sampling.temperature = static_cast<float>(params->temperature);
  req.sampling.top_p = params->top_p > 0 ? static_cast<float>(params->top_p) : 1e-6f;
  req.sampling.presence_penalty = static_cast<float>(params->presence_penalty);
  req.sampling.frequency_penalty = static_cast<float>(params->frequency_penalty);
  for (const auto& [token, bias] : params->logit_bias) req.sampling.logit_bias.emplace_back(token, bias);
  req.sampling.seed = params->seed ? static_cast<uint64_t>(*params->seed) : [] {
    uint64_t s = 0;
    const std::string bytes = RandomBytes(sizeof s);
    std::memcpy(&s, bytes.data(), sizeof s);
    return s;
  }();
  req.sampling.logprobs = params->logprobs;
  req.sampling.top_logprobs = static_cast<int32_t>(params->top_logprobs);
  req.stop = params->stop;
  req.deadline_micros = d.clock.NowMicros() + d.config.serving.request_timeout_ms * 1000;
  // Steering: the interventions the research scope quota admitted.
  const std::optional<Steering> steering = SteeringFrom(ctx);
  if (steering) req.hooks = steering->hooks;

  const std::string id = (chat ? "chatcmpl-" : "cmpl-") + NewId("x").substr(2);
  auto state = std::make_shared<Completion>(std::move(*params), id, d.clock.NowSeconds(), model.id, d.streams);
  state->head.content_type = state->params.stream ? "text/event-stream" : "application/json";
  if (state->params.stream) state->head.SetHeader("Cache-Control", "no-cache");
  state->head.SetHeader("X-Aperture-Level", std::string(LevelName(level)));
  if (adjust->max_tokens_clamped) state->head.SetHeader("X-Aperture-Max-Tokens", std::to_string(adjust->max_tokens));
  state->stream->Push(state->response.OnStart());
  const std::string request_hash = Sha256Hex(ctx.request.body);
  const std::string owner = UsageOwner(ctx.caller);
  const std::string actor = ctx.caller.actor();
  req.callbacks.on_token = [state](const TokenEvent& e) {
    state->stream->Push(state->response.OnToken(e));
    if (state->params.stream) state->AnswerWithStream();
  };
  req.callbacks.on_choice_end = [state](const ChoiceEnd& e) { state->stream->Push(state->response.OnChoiceEnd(e)); };
  req.callbacks.on_done = [state, &d, request_hash, owner, actor, level, charges = ctx.charges, model_id = model.id,
                           route = ctx.route->name,
                           steered = steering ? steering->record : Json()](const GenerateDone& done) {
    // Count and record before the last bytes go out, so a client that has
    // its answer also sees it in /v1/usage.
    const std::string final_chunk = state->response.OnDone(done);
    charges.Settle({.tokens = done.prompt_tokens + done.completion_tokens});
    const int64_t now = d.clock.NowSeconds();
    d.usage.Add(owner, model_id, now, done.prompt_tokens, done.completion_tokens);
    Json details = {{"route", route},
                    {"request_sha256", request_hash},
                    {"response_sha256", Sha256Hex(state->response.AllText())},
                    {"prompt_tokens", done.prompt_tokens},
                    {"completion_tokens", done.completion_tokens},
                    {"finish_reasons", state->response.FinishReasons()}};
    if (!steered.is_null()) details["interventions"] = steered;
    d.recorder.Record(LogEvent{"completion", now, actor, model_id, std::string(LevelName(level)),
                               done.status.ok() ? "ok" : "error", done.status.ok() ? "ok" : "engine_error",
                               CanonicalJson(details)});
    if (!state->answered && !done.status.ok()) {
      // Nothing has gone out yet: the failure gets its own status.
      state->answered = true;
      state->stream->Cancel();
      state->answer->Resolve(EngineFailure(done.status));
      return;
    }
    state->stream->Push(final_chunk);
    state->stream->Finish();
    state->AnswerWithStream();
  };
  auto submitted = d.scheduler.Submit(std::move(req));
  if (!submitted.ok()) return SubmitError(submitted.status());
  scheduler::Scheduler* sched = &d.scheduler;
  auto cancel = [sched, request_id = *submitted] { sched->Cancel(request_id); };
  state->stream->OnCancel(cancel);
  state->answer->OnCancel(cancel);
  return http::LaterResponse(state->answer);
}

// Gathers the embeddings of several inputs, in order, then answers once.
struct Embeddings {
  explicit Embeddings(size_t n) : vectors(n), remaining(n) {}
  absl::Mutex mu;
  std::vector<std::vector<float>> vectors ABSL_GUARDED_BY(mu);
  int prompt_tokens ABSL_GUARDED_BY(mu) = 0;
  absl::Status status ABSL_GUARDED_BY(mu);
  size_t remaining ABSL_GUARDED_BY(mu);
  // Answered once every input is done: the whole body, or the failure's own status.
  std::shared_ptr<http::DeferredResponse> answer = std::make_shared<http::DeferredResponse>();
};

std::string EmbeddingsBody(const std::vector<std::vector<float>>& vectors, const std::string& format,
                           const std::string& model, int prompt_tokens) {
  Json data = Json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    Json embedding;
    if (format == "base64") {
      std::string bytes(reinterpret_cast<const char*>(vectors[i].data()), vectors[i].size() * sizeof(float));
      embedding = Base64Encode(bytes);
    } else {
      embedding = vectors[i];
    }
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", std::move(embedding)}});
  }
  return DumpJson(Json{{"object", "list"},
                       {"data", std::move(data)},
                       {"model", model},
                       {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}});
}

http::Response HandleEmbeddings(ApiDeps& d, RequestContext& ctx) {
  const Model& model = *ctx.decision->model;
  auto params = ParseEmbeddingParams(ctx.body);
  if (!params.ok()) return StatusResponse(params.status());
  if (absl::Status s = EnsureModel(d, model); !s.ok()) return StatusResponse(s);
  auto state = std::make_shared<Embeddings>(params->inputs.size());
  const std::string owner = UsageOwner(ctx.caller);
  const std::string actor = ctx.caller.actor();
  const std::string level(LevelName(ctx.decision->level));
  const std::string request_hash = Sha256Hex(ctx.request.body);
  std::vector<scheduler::RequestId> submitted;
  for (size_t i = 0; i < params->inputs.size(); ++i) {
    scheduler::EmbedRequest req;
    req.model = model.id;
    req.text = params->inputs[i];
    req.deadline_micros = d.clock.NowMicros() + d.config.serving.request_timeout_ms * 1000;
    req.on_done = [state, i, &d, owner, actor, level, request_hash, charges = ctx.charges, model_id = model.id,
                   format = params->encoding_format](absl::StatusOr<scheduler::EmbedResult> result) {
      http::Response answer;
      absl::Status status;
      int prompt_tokens = 0;
      {
        absl::MutexLock lock(&state->mu);
        if (result.ok()) {
          state->vectors[i] = std::move(result->embedding);
          state->prompt_tokens += result->prompt_tokens;
        } else if (state->status.ok()) {
          state->status = result.status();
        }
        if (--state->remaining > 0) return;
        prompt_tokens = state->prompt_tokens;
        status = state->status;
        if (status.ok()) answer.body = EmbeddingsBody(state->vectors, format, model_id, prompt_tokens);
      }
      if (!status.ok()) answer = EngineFailure(status);
      charges.Settle({.tokens = prompt_tokens});
      const int64_t now = d.clock.NowSeconds();
      d.usage.Add(owner, model_id, now, prompt_tokens, 0);
      d.recorder.Record(LogEvent{"embedding", now, actor, model_id, level, status.ok() ? "ok" : "error",
                                 status.ok() ? "ok" : "engine_error",
                                 CanonicalJson({{"request_sha256", request_hash}, {"prompt_tokens", prompt_tokens}})});
      state->answer->Resolve(std::move(answer));
    };
    auto id = d.scheduler.SubmitEmbed(std::move(req));
    if (!id.ok()) {
      for (scheduler::RequestId earlier : submitted) d.scheduler.Cancel(earlier);
      return SubmitError(id.status());
    }
    submitted.push_back(*id);
  }
  scheduler::Scheduler* sched = &d.scheduler;
  state->answer->OnCancel([sched, submitted] {
    for (scheduler::RequestId id : submitted) sched->Cancel(id);
  });
  return http::LaterResponse(state->answer);
}

// Usage for a day range: the caller's own; owners may ask for a principal or everyone.
http::Response HandleUsage(ApiDeps& d, RequestContext& ctx) {
  auto result = [&]() -> absl::StatusOr<Json> {
    const std::string today = UsageMeter::Day(d.clock.NowSeconds());
    auto date = ctx.request.Query("date");
    std::string from = std::string(ctx.request.Query("start_date").value_or(date.value_or(today)));
    std::string to = std::string(ctx.request.Query("end_date").value_or(date.value_or(today)));
    for (const auto& [param, value] : {std::pair{"start_date", from}, std::pair{"end_date", to}}) {
      if (value.size() != 10 || value[4] != '-' || value[7] != '-') {
        return FieldError(param, fmt::format("'{}' must be a date like 2026-11-23", param));
      }
    }
    std::string principal = ctx.caller.principal->id;
    if (auto asked = ctx.request.Query("principal")) {
      if (!ctx.caller.IsAtLeast(Role::kOwner)) {
        return absl::PermissionDeniedError("only owners may read other principals' usage");
      }
      if (*asked == "*") {
        principal.clear();
      } else {
        ASSIGN_OR_RETURN(Principal p, d.access.ResolvePrincipal(std::string(*asked)));
        principal = p.id;
      }
    }
    RETURN_IF_ERROR(d.usage.Flush(d.store));
    ASSIGN_OR_RETURN(auto rows, d.store.ListUsage(principal, from, to));
    Json data = Json::array();
    int64_t prompt = 0, completion = 0, requests = 0;
    for (const UsageRow& u : rows) {
      data.push_back({{"principal", u.principal},
                      {"model", u.model},
                      {"date", u.day},
                      {"requests", u.requests},
                      {"prompt_tokens", u.prompt_tokens},
                      {"completion_tokens", u.completion_tokens},
                      {"total_tokens", u.prompt_tokens + u.completion_tokens},
                      {"research_requests", u.research_requests},
                      {"research_tokens", u.research_tokens}});
      prompt += u.prompt_tokens;
      completion += u.completion_tokens;
      requests += u.requests;
    }
    return Json{{"object", "list"},
                {"data", std::move(data)},
                {"start_date", from},
                {"end_date", to},
                {"totals",
                 {{"requests", requests},
                  {"prompt_tokens", prompt},
                  {"completion_tokens", completion},
                  {"total_tokens", prompt + completion}}}};
  }();
  return Answer(result);
}

// A request asks for logprobs when it sets `logprobs` (true or a count) or
// `top_logprobs`, and to intervene when it carries `interventions`.
std::vector<Capability> BodyCapabilities(const Json& body) {
  std::vector<Capability> caps;
  auto iv = body.find("interventions");
  if (iv != body.end() && iv->is_array() && !iv->empty()) caps.push_back(Capability::kIntervene);
  auto lp = body.find("logprobs");
  bool asked = lp != body.end() && !lp->is_null() && !(lp->is_boolean() && !lp->get<bool>()) &&
               !(lp->is_number() && lp->get<double>() == 0);
  auto top = body.find("top_logprobs");
  asked = asked || (top != body.end() && !top->is_null() && !(top->is_number() && top->get<double>() == 0));
  if (asked) caps.push_back(Capability::kLogprobs);
  return caps;
}

}  // namespace

void AddServingRoutes(Router& router, ApiDeps& d) {
  Route chat{"POST",
             "/v1/chat/completions",
             "chat.completions",
             Access::kAnyone,
             ModelFrom::kBody,
             Capability::kChat,
             BodyCapabilities,
             [&d](RequestContext& ctx) { return HandleCompletion(d, ctx, true); }};
  chat.token_estimate = [&d](const RequestContext& ctx) { return CompletionTokenEstimate(d.config, ctx, true); };
  chat.research_demand = [&d](RequestContext& ctx) { return PlanSteering(d, ctx); };
  router.Add(std::move(chat));
  Route completions{"POST",           "/v1/completions",
                    "completions",    Access::kAnyone,
                    ModelFrom::kBody, Capability::kComplete,
                    BodyCapabilities, [&d](RequestContext& ctx) { return HandleCompletion(d, ctx, false); }};
  completions.token_estimate = [&d](const RequestContext& ctx) {
    return CompletionTokenEstimate(d.config, ctx, false);
  };
  completions.research_demand = [&d](RequestContext& ctx) { return PlanSteering(d, ctx); };
  router.Add(std::move(completions));
  Route embeddings{"POST",
                   "/v1/embeddings",
                   "embeddings",
                   Access::kAnyone,
                   ModelFrom::kBody,
                   Capability::kEmbed,
                   {},
                   [&d](RequestContext& ctx) { return HandleEmbeddings(d, ctx); }};
  embeddings.token_estimate = EmbeddingTokenEstimate;
  router.Add(std::move(embeddings));
  router.Add({"GET", "/v1/usage", "usage", Access::kPrincipal, ModelFrom::kNone, {}, {}, [&d](RequestContext& ctx) {
                return HandleUsage(d, ctx);
              }});
}

}  // namespace aperture
