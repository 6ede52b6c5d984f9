#include "api/openai/remote_answer.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace aperture {
namespace {

const Json* Member(const Json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it == object.end() ? nullptr : &*it;
}

std::optional<int64_t> NonNegativeInt(const Json* v) {
  if (v == nullptr || !v->is_number_integer()) return std::nullopt;
  const int64_t n = v->get<int64_t>();
  if (n < 0) return std::nullopt;
  return n;
}

// finish_reason as the protocol has it: a known reason, or null.
Json FinishReason(const Json* v) {
  if (v == nullptr || !v->is_string()) return nullptr;
  const std::string r = v->get<std::string>();
  if (r == "stop" || r == "length" || r == "content_filter") return r;
  return "stop";  // "eos", "stop_sequence" and the like
}

Json ByteArray(const Json* v) {
  if (v == nullptr || !v->is_array()) return nullptr;
  Json out = Json::array();
  for (const Json& b : *v) {
    if (!b.is_number_integer() || b.get<int64_t>() < 0 || b.get<int64_t>() > 255) return nullptr;
    out.push_back(b.get<int64_t>());
  }
  return out;
}

// One {token, logprob, bytes} of a chat answer; nullopt when malformed.
std::optional<Json> ChatToken(const Json& item) {
  const Json* token = Member(item, "token");
  const Json* logprob = Member(item, "logprob");
  if (token == nullptr || !token->is_string() || logprob == nullptr || !logprob->is_number()) return std::nullopt;
  return Json{{"token", *token}, {"logprob", logprob->get<double>()}, {"bytes", ByteArray(Member(item, "bytes"))}};
}

// Chat logprobs: each token's, with at most `k` alternatives.
Json ChatLogprobs(const Json* v, int64_t k) {
  Json content = Json::array();
  const Json* items = v ? Member(*v, "content") : nullptr;
  if (items != nullptr && items->is_array()) {
    for (const Json& item : *items) {
      std::optional<Json> entry = ChatToken(item);
      if (!entry) continue;
      Json top = Json::array();
      const Json* alternatives = Member(item, "top_logprobs");
      if (alternatives != nullptr && alternatives->is_array()) {
        for (const Json& alt : *alternatives) {
          if (static_cast<int64_t>(top.size()) >= k) break;
          if (std::optional<Json> a = ChatToken(alt)) top.push_back(*std::move(a));
        }
      }
      (*entry)["top_logprobs"] = std::move(top);
      content.push_back(*std::move(entry));
    }
  }
  return Json{{"content", std::move(content)}};
}

// Text-completion logprobs: tokens, their logprobs, offsets, and the `k`
// likeliest alternatives of each token.
Json TextLogprobs(const Json* v, int64_t k) {
  Json out = {{"tokens", Json::array()},
              {"token_logprobs", Json::array()},
              {"top_logprobs", Json::array()},
              {"text_offset", Json::array()}};
  if (v == nullptr || !v->is_object()) return out;
  const Json* tokens = Member(*v, "tokens");
  const Json* logprobs = Member(*v, "token_logprobs");
  const Json* tops = Member(*v, "top_logprobs");
  const Json* offsets = Member(*v, "text_offset");
  if (tokens == nullptr || !tokens->is_array()) return out;
  for (size_t i = 0; i < tokens->size(); ++i) {
    const Json& t = (*tokens)[i];
    if (!t.is_string()) break;
    out["tokens"].push_back(t);
    const Json* lp = logprobs && logprobs->is_array() && i < logprobs->size() ? &(*logprobs)[i] : nullptr;
    out["token_logprobs"].push_back(lp && lp->is_number() ? Json(lp->get<double>()) : Json(nullptr));
    const Json* off = offsets && offsets->is_array() && i < offsets->size() ? &(*offsets)[i] : nullptr;
    out["text_offset"].push_back(NonNegativeInt(off).value_or(0));
    Json top = Json::object();
    const Json* alts = tops && tops->is_array() && i < tops->size() ? &(*tops)[i] : nullptr;
    if (alts != nullptr && alts->is_object()) {
      std::vector<std::pair<double, std::string>> ranked;
      for (auto it = alts->begin(); it != alts->end(); ++it) {
        if (it.value().is_number()) ranked.emplace_back(it.value().get<double>(), it.key());
      }
      std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
      for (size_t j = 0; j < ranked.size() && static_cast<int64_t>(j) < k; ++j) top[ranked[j].second] = ranked[j].first;
    }
    out["top_logprobs"].push_back(std::move(top));
  }
  return out;
}

Json Logprobs(const Json& choice, const AnswerRules& rules) {
  if (!rules.logprobs) return nullptr;
  const Json* v = Member(choice, "logprobs");
  return rules.chat ? ChatLogprobs(v, rules.top_logprobs) : TextLogprobs(v, rules.top_logprobs);
}

std::optional<BackendUsage> UsageOf(const Json& backend) {
  const Json* usage = Member(backend, "usage");
  if (usage == nullptr || !usage->is_object()) return std::nullopt;
  std::optional<int64_t> prompt = NonNegativeInt(Member(*usage, "prompt_tokens"));
  std::optional<int64_t> completion = NonNegativeInt(Member(*usage, "completion_tokens"));
  if (!prompt || !completion) return std::nullopt;
  return BackendUsage{*prompt, *completion};
}

Json UsageJson(const BackendUsage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens}};
}

Json Envelope(const AnswerRules& rules) {
  const char* object = rules.chat ? (rules.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", rules.id},
          {"object", object},
          {"created", rules.created},
          {"model", rules.model},
          {"system_fingerprint", nullptr}};
}

absl::StatusOr<const Json*> Choices(const Json& backend) {
  const Json* choices = Member(backend, "choices");
  if (choices == nullptr || !choices->is_array()) {
    return absl::DataLossError("the backend's answer has no `choices` array");
  }
  return choices;
}

// The choice's index when it is one the caller asked for.
std::optional<int64_t> ChoiceIndex(const Json& choice, const AnswerRules& rules) {
  std::optional<int64_t> index = NonNegativeInt(Member(choice, "index"));
  if (!index || *index >= rules.n) return std::nullopt;
  return index;
}

std::string StringOr(const Json* v) { return v != nullptr && v->is_string() ? v->get<std::string>() : std::string(); }

}  // namespace

Json BackendRequestBody(const CompletionParams& p, const LevelAdjustments& adjust, const std::string& api_model,
                        const std::string& system_prompt) {
  Json body = {{"model", api_model},
               {"max_tokens", adjust.max_tokens},
               {"temperature", p.temperature},
               {"top_p", p.top_p},
               {"n", p.n},
               {"presence_penalty", p.presence_penalty},
               {"frequency_penalty", p.frequency_penalty},
               {"stream", p.stream}};
  if (p.chat) {
    Json messages = Json::array();
    if (!system_prompt.empty()) messages.push_back({{"role", "system"}, {"content", system_prompt}});
    for (const ChatMessage& m : p.messages) messages.push_back({{"role", m.role}, {"content", m.content}});
    body["messages"] = std::move(messages);
    if (p.logprobs) {
      body["logprobs"] = true;
      body["top_logprobs"] = p.top_logprobs;
    }
  } else {
    if (!p.prompt_tokens.empty()) {
      body["prompt"] = p.prompt_tokens;
    } else {
      body["prompt"] = p.prompt;
    }
    if (p.logprobs) body["logprobs"] = p.top_logprobs;
  }
  if (!p.stop.empty()) body["stop"] = p.stop;
  if (p.seed) body["seed"] = *p.seed;
  if (!p.logit_bias.empty()) {
    Json bias = Json::object();
    for (const auto& [token, value] : p.logit_bias) bias[std::to_string(token)] = value;
    body["logit_bias"] = std::move(bias);
  }
  if (p.stream) body["stream_options"] = {{"include_usage", true}};
  return body;
}

absl::StatusOr<CheckedAnswer> CheckAnswer(const Json& backend, const AnswerRules& rules) {
  if (!backend.is_object()) return absl::DataLossError("the backend's answer is not a JSON object");
  absl::StatusOr<const Json*> choices = Choices(backend);
  if (!choices.ok()) return choices.status();
  CheckedAnswer out;
  out.body = Envelope(rules);
  std::vector<bool> seen(static_cast<size_t>(rules.n), false);
  Json kept = Json::array();
  for (const Json& choice : **choices) {
    std::optional<int64_t> index = ChoiceIndex(choice, rules);
    if (!index || seen[*index]) continue;
    seen[*index] = true;
    Json finish = FinishReason(Member(choice, "finish_reason"));
    std::string text;
    if (rules.chat) {
      const Json* message = Member(choice, "message");
      text = message ? StringOr(Member(*message, "content")) : std::string();
      kept.push_back({{"index", *index},
                      {"message", {{"role", "assistant"}, {"content", text}}},
                      {"logprobs", Logprobs(choice, rules)},
                      {"finish_reason", finish}});
    } else {
      text = StringOr(Member(choice, "text"));
      kept.push_back(
          {{"index", *index}, {"text", text}, {"logprobs", Logprobs(choice, rules)}, {"finish_reason", finish}});
    }
    out.text += text;
    out.finish_reasons.push_back(finish.is_null() ? Json("stop") : finish);
  }
  if (kept.empty()) return absl::DataLossError("the backend's answer has no choice the request asked for");
  std::sort(kept.begin(), kept.end(), [](const Json& a, const Json& b) { return a["index"] < b["index"]; });
  out.body["choices"] = std::move(kept);
  out.usage = UsageOf(backend);
  if (out.usage) out.body["usage"] = UsageJson(*out.usage);
  return out;
}

absl::StatusOr<CheckedChunk> CheckChunk(const Json& backend, const AnswerRules& rules) {
  if (!backend.is_object()) return absl::DataLossError("an event of the backend's stream is not a JSON object");
  if (Member(backend, "error") != nullptr) return absl::UnavailableError("the backend reported an error mid-stream");
  CheckedChunk out;
  out.usage = UsageOf(backend);
  const Json* choices = Member(backend, "choices");
  Json kept = Json::array();
  if (choices != nullptr && choices->is_array()) {
    for (const Json& choice : *choices) {
      std::optional<int64_t> index = ChoiceIndex(choice, rules);
      if (!index) continue;
      Json finish = FinishReason(Member(choice, "finish_reason"));
      if (!finish.is_null()) out.finish_reasons.push_back(finish);
      if (rules.chat) {
        const Json* delta = Member(choice, "delta");
        Json clean = Json::object();
        if (delta != nullptr) {
          if (const Json* role = Member(*delta, "role"); role && *role == "assistant") clean["role"] = "assistant";
          if (const Json* content = Member(*delta, "content"); content && content->is_string()) {
            clean["content"] = *content;
            out.text += content->get<std::string>();
          }
        }
        kept.push_back({{"index", *index},
                        {"delta", std::move(clean)},
                        {"logprobs", Logprobs(choice, rules)},
                        {"finish_reason", finish}});
      } else {
        const std::string text = StringOr(Member(choice, "text"));
        out.text += text;
        kept.push_back(
            {{"index", *index}, {"text", text}, {"logprobs", Logprobs(choice, rules)}, {"finish_reason", finish}});
      }
    }
  } else if (!out.usage) {
    return absl::DataLossError("an event of the backend's stream has neither choices nor usage");
  }
  out.content_events = out.text.empty() ? 0 : 1;
  if (!kept.empty()) {
    Json chunk = Envelope(rules);
    chunk["choices"] = std::move(kept);
    out.chunk = std::move(chunk);
  }
  return out;
}

std::string UsageChunk(const BackendUsage& usage, const AnswerRules& rules) {
  Json chunk = Envelope(rules);
  chunk["choices"] = Json::array();
  chunk["usage"] = UsageJson(usage);
  return "data: " + DumpJson(chunk) + "\n\n";
}

}  // namespace aperture
