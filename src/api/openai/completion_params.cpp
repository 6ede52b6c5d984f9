#include "api/openai/completion_params.h"

#include "api/body_fields.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {
namespace {

constexpr size_t kMaxStops = 4;
constexpr size_t kMaxMessages = 1024;
constexpr size_t kMaxLogitBias = 1024;

absl::Status Range(std::string_view param, double v, double lo, double hi) {
  if (v < lo || v > hi) return FieldError(param, fmt::format("'{}' must be between {} and {}", param, lo, hi));
  return absl::OkStatus();
}

absl::StatusOr<std::string> MessageContent(const Json& content, size_t i) {
  const std::string param = fmt::format("messages[{}].content", i);
  if (content.is_string()) return content.get<std::string>();
  // The array form: [{"type":"text","text":"..."}, ...]; only text parts are supported.
  if (content.is_array()) {
    std::string text;
    for (const Json& part : content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
          !part["text"].is_string()) {
        return FieldError(param, fmt::format("'{}' parts must be {{\"type\": \"text\", \"text\": ...}}", param));
      }
      text += part["text"].get<std::string>();
    }
    return text;
  }
  if (content.is_null()) return std::string();
  return FieldError(param, fmt::format("'{}' must be a string or an array of text parts", param));
}

absl::Status ParseMessages(const Json& body, CompletionParams& p) {
  auto it = body.find("messages");
  if (it == body.end()) return FieldError("messages", "'messages' is required");
  if (!it->is_array() || it->empty()) return FieldError("messages", "'messages' must be a non-empty array");
  if (it->size() > kMaxMessages) return FieldError("messages", "'messages' has too many entries");
  for (size_t i = 0; i < it->size(); ++i) {
    const Json& m = (*it)[i];
    if (!m.is_object()) return FieldError("messages", fmt::format("'messages[{}]' must be an object", i));
    auto role = m.find("role");
    if (role == m.end() || !role->is_string()) {
      return FieldError(fmt::format("messages[{}].role", i), fmt::format("'messages[{}].role' is required", i));
    }
    std::string r = role->get<std::string>();
    if (r == "developer") r = "system";
    if (r != "system" && r != "user" && r != "assistant") {
      return FieldError(fmt::format("messages[{}].role", i),
                        fmt::format("'messages[{}].role' must be system, user or assistant", i));
    }
    ASSIGN_OR_RETURN(std::string content, MessageContent(m.contains("content") ? m["content"] : Json(), i));
    p.messages.push_back({std::move(r), std::move(content)});
  }
  return absl::OkStatus();
}

absl::Status ParsePrompt(const Json& body, CompletionParams& p) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) return FieldError("prompt", "'prompt' is required");
  if (it->is_string()) {
    p.prompt = it->get<std::string>();
    return absl::OkStatus();
  }
  if (it->is_array()) {
    if (it->size() == 1 && (*it)[0].is_string()) {
      p.prompt = (*it)[0].get<std::string>();
      return absl::OkStatus();
    }
    bool tokens = !it->empty();
    for (const Json& t : *it) tokens = tokens && t.is_number_integer();
    if (tokens) {
      for (const Json& t : *it) {
        int64_t id = t.get<int64_t>();
        if (id < 0 || id > INT32_MAX) return FieldError("prompt", "'prompt' token ids must be non-negative");
        p.prompt_tokens.push_back(static_cast<int32_t>(id));
      }
      return absl::OkStatus();
    }
    return FieldError("prompt", "'prompt' must be a string, an array of one string, or an array of token ids");
  }
  return FieldError("prompt", "'prompt' must be a string or an array");
}

absl::Status ParseStop(const Json& body, CompletionParams& p) {
  auto it = body.find("stop");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (it->is_string()) {
    if (!it->get<std::string>().empty()) p.stop.push_back(it->get<std::string>());
    return absl::OkStatus();
  }
  if (!it->is_array() || it->size() > kMaxStops) {
    return FieldError("stop", "'stop' must be a string or an array of at most 4 strings");
  }
  for (const Json& s : *it) {
    if (!s.is_string()) return FieldError("stop", "'stop' must contain strings");
    if (!s.get<std::string>().empty()) p.stop.push_back(s.get<std::string>());
  }
  return absl::OkStatus();
}

absl::Status ParseLogitBias(const Json& body, CompletionParams& p) {
  auto it = body.find("logit_bias");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object() || it->size() > kMaxLogitBias) {
    return FieldError("logit_bias", "'logit_bias' must be an object of at most 1024 token ids to numbers");
  }
  for (const auto& [key, value] : it->items()) {
    int64_t id = -1;
    try {
      size_t used = 0;
      id = std::stoll(key, &used);
      if (used != key.size()) id = -1;
    } catch (...) {
      id = -1;
    }
    if (id < 0 || id > INT32_MAX)
      return FieldError("logit_bias", fmt::format("'logit_bias' key '{}' is not a token id", key));
    if (!value.is_number()) return FieldError("logit_bias", "'logit_bias' values must be numbers");
    RETURN_IF_ERROR(Range("logit_bias", value.get<double>(), -100, 100));
    p.logit_bias[static_cast<int32_t>(id)] = value.get<float>();
  }
  return absl::OkStatus();
}

absl::Status ParseLogprobs(const Json& body, CompletionParams& p) {
  if (p.chat) {
    ASSIGN_OR_RETURN(auto logprobs, OptionalBool(body, "logprobs"));
    ASSIGN_OR_RETURN(auto top, OptionalInt(body, "top_logprobs"));
    p.logprobs = logprobs.value_or(false);
    p.top_logprobs = top.value_or(0);
    RETURN_IF_ERROR(Range("top_logprobs", static_cast<double>(p.top_logprobs), 0, 20));
    if (p.top_logprobs > 0 && !p.logprobs) {
      return FieldError("top_logprobs", "'top_logprobs' needs 'logprobs': true");
    }
    return absl::OkStatus();
  }
  // Completions: `logprobs` is the number of alternatives (0 = only the chosen token's).
  ASSIGN_OR_RETURN(auto n, OptionalInt(body, "logprobs"));
  if (n) {
    RETURN_IF_ERROR(Range("logprobs", static_cast<double>(*n), 0, 20));
    p.logprobs = true;
    p.top_logprobs = *n;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<CompletionParams> ParseCompletionParams(const Json& body, bool chat) {
  CompletionParams p;
  p.chat = chat;
  ASSIGN_OR_RETURN(p.model, RequiredString(body, "model"));
  RETURN_IF_ERROR(chat ? ParseMessages(body, p) : ParsePrompt(body, p));

  ASSIGN_OR_RETURN(auto max_tokens, OptionalInt(body, "max_tokens"));
  ASSIGN_OR_RETURN(auto max_completion_tokens, OptionalInt(body, "max_completion_tokens"));
  p.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  if (p.max_tokens && *p.max_tokens < 1) {
    return FieldError(max_completion_tokens ? "max_completion_tokens" : "max_tokens",
                      "the maximum number of tokens must be at least 1");
  }
  ASSIGN_OR_RETURN(auto temperature, OptionalNumber(body, "temperature"));
  p.temperature = temperature.value_or(1.0);
  RETURN_IF_ERROR(Range("temperature", p.temperature, 0, 2));
  ASSIGN_OR_RETURN(auto top_p, OptionalNumber(body, "top_p"));
  p.top_p = top_p.value_or(1.0);
  RETURN_IF_ERROR(Range("top_p", p.top_p, 0, 1));
  ASSIGN_OR_RETURN(auto n, OptionalInt(body, "n"));
  p.n = n.value_or(1);
  RETURN_IF_ERROR(Range("n", static_cast<double>(p.n), 1, 128));
  RETURN_IF_ERROR(ParseStop(body, p));
  ASSIGN_OR_RETURN(p.seed, OptionalInt(body, "seed"));
  ASSIGN_OR_RETURN(auto presence, OptionalNumber(body, "presence_penalty"));
  p.presence_penalty = presence.value_or(0);
  RETURN_IF_ERROR(Range("presence_penalty", p.presence_penalty, -2, 2));
  ASSIGN_OR_RETURN(auto frequency, OptionalNumber(body, "frequency_penalty"));
  p.frequency_penalty = frequency.value_or(0);
  RETURN_IF_ERROR(Range("frequency_penalty", p.frequency_penalty, -2, 2));
  RETURN_IF_ERROR(ParseLogitBias(body, p));
  RETURN_IF_ERROR(ParseLogprobs(body, p));
  ASSIGN_OR_RETURN(auto stream, OptionalBool(body, "stream"));
  p.stream = stream.value_or(false);
  if (auto so = body.find("stream_options"); so != body.end() && !so->is_null()) {
    if (!so->is_object()) return FieldError("stream_options", "'stream_options' must be an object");
    ASSIGN_OR_RETURN(auto usage, OptionalBool(*so, "include_usage"));
    p.include_usage = usage.value_or(false);
  }
  ASSIGN_OR_RETURN(auto user, OptionalString(body, "user"));
  p.user = user.value_or("");
  return p;
}

absl::StatusOr<EmbeddingParams> ParseEmbeddingParams(const Json& body) {
  EmbeddingParams p;
  ASSIGN_OR_RETURN(p.model, RequiredString(body, "model"));
  auto it = body.find("input");
  if (it == body.end() || it->is_null()) return FieldError("input", "'input' is required");
  if (it->is_string()) {
    p.inputs.push_back(it->get<std::string>());
  } else if (it->is_array() && !it->empty() && it->size() <= 256) {
    for (const Json& s : *it) {
      if (!s.is_string()) return FieldError("input", "'input' must be a string or an array of strings");
      p.inputs.push_back(s.get<std::string>());
    }
  } else {
    return FieldError("input", "'input' must be a string or an array of 1 to 256 strings");
  }
  ASSIGN_OR_RETURN(auto format, OptionalString(body, "encoding_format"));
  p.encoding_format = format.value_or("float");
  if (p.encoding_format != "float" && p.encoding_format != "base64") {
    return FieldError("encoding_format", "'encoding_format' must be float or base64");
  }
  ASSIGN_OR_RETURN(auto user, OptionalString(body, "user"));
  p.user = user.value_or("");
  return p;
}

}  // namespace aperture
