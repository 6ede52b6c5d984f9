#include "api/openai/completion_response.h"

namespace aperture {
namespace {

Json Bytes(const std::string& s) {
  Json b = Json::array();
  for (unsigned char c : s) b.push_back(static_cast<int>(c));
  return b;
}

Json Usage(const scheduler::GenerateDone& d) {
  return {{"prompt_tokens", d.prompt_tokens},
          {"completion_tokens", d.completion_tokens},
          {"total_tokens", d.prompt_tokens + d.completion_tokens}};
}

}  // namespace

std::string OpenAiFinishReason(scheduler::FinishReason reason) {
  return reason == scheduler::FinishReason::kStop ? "stop" : "length";
}

CompletionResponse::CompletionResponse(const CompletionParams& params, std::string id, int64_t created,
                                       std::string model)
    : params_(params), id_(std::move(id)), created_(created), model_(std::move(model)), choices_(params.n) {
  const std::string envelope = Sse(Envelope());              // "data: {...}\n\n"
  envelope_rest_ = envelope.substr(7, envelope.size() - 9);  // the envelope's members after "{", with its "}"
}

std::string CompletionResponse::Sse(const Json& j) { return "data: " + DumpJson(j) + "\n\n"; }

Json CompletionResponse::Envelope() const {
  const char* object =
      params_.chat ? (params_.stream ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", id_}, {"object", object}, {"created", created_}, {"model", model_}, {"system_fingerprint", nullptr}};
}

Json CompletionResponse::ChunkChoice(int index, const std::string& text, const Json& logprobs,
                                     const Json& finish_reason) const {
  if (params_.chat) {
    Json delta = Json::object();
    if (!text.empty()) delta["content"] = text;
    return {{"index", index}, {"delta", std::move(delta)}, {"logprobs", logprobs}, {"finish_reason", finish_reason}};
  }
  return {{"index", index}, {"text", text}, {"logprobs", logprobs}, {"finish_reason", finish_reason}};
}

std::string CompletionResponse::OnStart() {
  if (!params_.stream || !params_.chat) return {};
  std::string out;
  for (int i = 0; i < params_.n; ++i) {
    Json chunk = Envelope();
    chunk["choices"] = Json::array({{{"index", i},
                                     {"delta", {{"role", "assistant"}, {"content", ""}}},
                                     {"logprobs", nullptr},
                                     {"finish_reason", nullptr}}});
    out += Sse(chunk);
  }
  return out;
}

Json CompletionResponse::TokenLogprobs(const scheduler::TokenEvent& e, Choice& c) {
  if (!params_.logprobs) return nullptr;
  if (params_.chat) {
    Json top = Json::array();
    for (const auto& t : e.top_logprobs) {
      top.push_back({{"token", t.text}, {"logprob", t.logprob}, {"bytes", Bytes(t.text)}});
    }
    Json entry = {{"token", e.token_text},
                  {"logprob", e.logprob},
                  {"bytes", Bytes(e.token_text)},
                  {"top_logprobs", std::move(top)}};
    c.logprobs_content.push_back(entry);
    return {{"content", Json::array({std::move(entry)})}};
  }
  Json top = Json::object();
  for (const auto& t : e.top_logprobs) top[t.text] = t.logprob;
  const size_t offset = c.text.size();
  c.tokens.push_back(e.token_text);
  c.token_logprobs.push_back(e.logprob);
  c.top_logprobs.push_back(top);
  c.text_offset.push_back(offset);
  return {
      {"tokens", {e.token_text}}, {"token_logprobs", {e.logprob}}, {"top_logprobs", {top}}, {"text_offset", {offset}}};
}

std::string CompletionResponse::OnToken(const scheduler::TokenEvent& e) {
  if (e.choice < 0 || e.choice >= static_cast<int>(choices_.size())) return {};
  Choice& c = choices_[e.choice];
  Json logprobs = TokenLogprobs(e, c);
  c.text += e.text;
  if (!params_.stream || (e.text.empty() && logprobs.is_null())) return {};
  if (!logprobs.is_null()) {
    Json chunk = Envelope();
    chunk["choices"] = Json::array({ChunkChoice(e.choice, e.text, logprobs, nullptr)});
    return Sse(chunk);
  }
  // The common chunk, one per streamed token, written directly: the same
  // bytes as the Json path above (keys in order), at a tenth of the cost.
  const std::string text = DumpJson(Json(e.text));
  std::string out = "data: {\"choices\":[{";
  if (params_.chat) {
    out += "\"delta\":{\"content\":" + text + "},\"finish_reason\":null,\"index\":" + std::to_string(e.choice) +
           ",\"logprobs\":null}";
  } else {
    out += "\"finish_reason\":null,\"index\":" + std::to_string(e.choice) + ",\"logprobs\":null,\"text\":" + text + "}";
  }
  out += "],";
  out += envelope_rest_;
  out += "\n\n";
  return out;
}

std::string CompletionResponse::OnChoiceEnd(const scheduler::ChoiceEnd& e) {
  if (e.choice < 0 || e.choice >= static_cast<int>(choices_.size())) return {};
  Choice& c = choices_[e.choice];
  c.text += e.text;
  c.finish_reason = OpenAiFinishReason(e.reason);
  if (!params_.stream) return {};
  Json chunk = Envelope();
  chunk["choices"] = Json::array({ChunkChoice(e.choice, e.text, nullptr, c.finish_reason)});
  return Sse(chunk);
}

std::string CompletionResponse::OnDone(const scheduler::GenerateDone& d) {
  if (params_.stream) {
    std::string out;
    if (!d.status.ok()) {
      out += Sse({{"error",
                   {{"message", "the model failed while generating"},
                    {"type", "server_error"},
                    {"code", "engine_error"},
                    {"param", nullptr}}}});
    }
    if (params_.include_usage) {
      Json chunk = Envelope();
      chunk["choices"] = Json::array();
      chunk["usage"] = Usage(d);
      out += Sse(chunk);
    }
    return out + "data: [DONE]\n\n";
  }
  Json body = Envelope();
  Json choices = Json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    Json logprobs = nullptr;
    if (params_.logprobs) {
      logprobs = params_.chat ? Json{{"content", c.logprobs_content}}
                              : Json{{"tokens", c.tokens},
                                     {"token_logprobs", c.token_logprobs},
                                     {"top_logprobs", c.top_logprobs},
                                     {"text_offset", c.text_offset}};
    }
    const std::string reason = c.finish_reason.empty() ? "length" : c.finish_reason;
    if (params_.chat) {
      choices.push_back({{"index", i},
                         {"message", {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}}},
                         {"logprobs", logprobs},
                         {"finish_reason", reason}});
    } else {
      choices.push_back({{"index", i}, {"text", c.text}, {"logprobs", logprobs}, {"finish_reason", reason}});
    }
  }
  body["choices"] = std::move(choices);
  body["usage"] = Usage(d);
  return DumpJson(body);
}

std::string CompletionResponse::AllText() const {
  std::string all;
  for (const Choice& c : choices_) all += c.text + '\x1e';  // record separator between choices
  return all;
}

std::vector<std::string> CompletionResponse::FinishReasons() const {
  std::vector<std::string> out;
  for (const Choice& c : choices_) out.push_back(c.finish_reason);
  return out;
}

}  // namespace aperture
