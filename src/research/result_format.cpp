#include "research/result_format.h"

#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/hash.h"
#include "core/hex.h"
#include "fmt/format.h"

namespace aperture::research {
namespace {

// Nested arrays in the tensor's shape; -inf (masked scores) as null.
Json Nested(const Tensor& t, size_t dim, size_t& offset) {
  if (dim == t.shape.size()) {
    const float x = t.data[offset++];
    return std::isfinite(x) ? Json(x) : Json(nullptr);
  }
  Json out = Json::array();
  for (int64_t i = 0; i < t.shape[dim]; ++i) out.push_back(Nested(t, dim + 1, offset));
  return out;
}

Json Descriptor(const Tensor& t) {
  const std::string bytes(reinterpret_cast<const char*>(t.data.data()), t.data.size() * sizeof(float));
  return {{"dtype", "F32"}, {"shape", t.shape}, {"sha256", Sha256Hex(bytes)}};
}

// Every non-integer number as "%.9g" of its float32 value.
Json CommitForm(const Json& v) {
  if (v.is_object()) {
    Json out = Json::object();
    for (auto it = v.begin(); it != v.end(); ++it) out[it.key()] = CommitForm(it.value());
    return out;
  }
  if (v.is_array()) {
    Json out = Json::array();
    for (const Json& x : v) out.push_back(CommitForm(x));
    return out;
  }
  if (v.is_number_float()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.9g", static_cast<double>(static_cast<float>(v.get<double>())));
    return std::string(buf);
  }
  return v;
}

Json TokenEntry(const engine::Tokenizer& tok, int32_t token, float logprob) {
  return {{"token", token}, {"text", tok.TokenToPiece(token, /*render_special=*/true)}, {"logprob", logprob}};
}

Json InputFields(const RunPlan& plan, const InputResult& in) {
  const engine::Tokenizer& tok = *plan.model->tokenizer;
  // The input's tokens as ids and as text (TransformerLens's to_str_tokens),
  // so a reader can label positions without the tokenizer.
  Json pieces = Json::array();
  for (int32_t t : in.tokens) pieces.push_back(tok.TokenToPiece(t, /*render_special=*/true));
  Json out = {{"tokens", in.tokens}, {"str_tokens", std::move(pieces)}};
  if (plan.top_k > 0) {
    Json top = Json::array();
    for (const engine::TokenLogprob& t : in.top_logprobs) top.push_back(TokenEntry(tok, t.token, t.logprob));
    out["top_logprobs"] = std::move(top);
  }
  if (!plan.target_tokens.empty()) {
    Json targets = Json::array();
    for (size_t i = 0; i < plan.target_tokens.size() && i < in.target_logprobs.size(); ++i) {
      Json t = TokenEntry(tok, plan.target_tokens[i], in.target_logprobs[i]);
      t["target"] = plan.target_names[i];
      targets.push_back(std::move(t));
    }
    out["target_logprobs"] = std::move(targets);
  }
  if (plan.lens_top_k > 0) {
    Json layers = Json::array();
    for (const auto& layer : in.lens) {
      Json positions = Json::array();
      for (const auto& top : layer) {
        Json k = Json::array();
        for (const engine::TokenLogprob& t : top) k.push_back(TokenEntry(tok, t.token, t.logprob));
        positions.push_back(std::move(k));
      }
      layers.push_back(std::move(positions));
    }
    out["logit_lens"] = {{"site", "blocks.*.hook_resid_post"}, {"positions", in.lens_positions}, {"top", layers}};
  }
  if (in.generating) {
    out["generated"] = {{"tokens", in.generated},
                        {"text", tok.Decode(in.generated, {.render_special = false, .strip_leading_space = false})}};
  }
  return out;
}

// The object with captures: `make` turns a tensor into its JSON.
template <typename Make>
Json WithCaptures(const ResultDocument& doc, Make make) {
  Json obj = doc.fields;
  for (size_t i = 0; i < doc.captures.size(); ++i) {
    if (doc.captures[i].empty()) continue;
    Json captures = Json::object();
    for (const Tensor& t : doc.captures[i]) captures[t.name] = make(t);
    if (doc.single) {
      obj["captures"] = std::move(captures);
    } else {
      obj["results"][i]["captures"] = std::move(captures);
    }
  }
  return obj;
}

// A capture's nested arrays back into a tensor: shape from the nesting.
absl::Status Flatten(const Json& v, size_t dim, Tensor& t) {
  if (!v.is_array()) {
    if (dim != t.shape.size()) return absl::InvalidArgumentError("a capture is not a rectangular array");
    if (v.is_null()) {
      t.data.push_back(-INFINITY);
    } else if (v.is_number()) {
      t.data.push_back(static_cast<float>(v.get<double>()));
    } else {
      return absl::InvalidArgumentError("a capture holds something other than numbers");
    }
    return absl::OkStatus();
  }
  if (dim == t.shape.size()) {
    if (!t.data.empty()) return absl::InvalidArgumentError("a capture is not a rectangular array");
    t.shape.push_back(static_cast<int64_t>(v.size()));
  } else if (dim > t.shape.size() || t.shape[dim] != static_cast<int64_t>(v.size())) {
    return absl::InvalidArgumentError("a capture is not a rectangular array");
  }
  for (const Json& x : v) {
    absl::Status s = Flatten(x, dim + 1, t);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<Json> Descriptors(const Json& captures) {
  if (!captures.is_object()) return absl::InvalidArgumentError("'captures' is not an object");
  Json out = Json::object();
  for (auto it = captures.begin(); it != captures.end(); ++it) {
    Tensor t;
    absl::Status s = Flatten(it.value(), 0, t);
    if (!s.ok()) return s;
    out[it.key()] = Descriptor(t);
  }
  return out;
}

}  // namespace

absl::StatusOr<std::string> ResponseCommitment(const Json& response) {
  Json obj = response;
  obj.erase("receipt");
  if (obj.contains("captures")) {
    absl::StatusOr<Json> d = Descriptors(obj["captures"]);
    if (!d.ok()) return d.status();
    obj["captures"] = *d;
  }
  if (obj.contains("results") && obj["results"].is_array()) {
    for (Json& r : obj["results"]) {
      if (!r.is_object() || !r.contains("captures")) continue;
      absl::StatusOr<Json> d = Descriptors(r["captures"]);
      if (!d.ok()) return d.status();
      r["captures"] = *d;
    }
  }
  return CommitmentSha256(obj);
}

int64_t ResultDocument::CapturedValues() const {
  int64_t n = 0;
  for (const auto& input : captures)
    for (const Tensor& t : input) n += static_cast<int64_t>(t.data.size());
  return n;
}

std::string CommitmentSha256(const Json& object) { return Sha256Hex(CanonicalJson(CommitForm(object))); }

std::string ResultDocument::Sha256() const {
  return CommitmentSha256(WithCaptures(*this, [](const Tensor& t) { return Descriptor(t); }));
}

std::string ResultDocument::JsonBody(const Json& extra) const {
  Json obj = WithCaptures(*this, [](const Tensor& t) {
    size_t offset = 0;
    return Nested(t, 0, offset);
  });
  for (auto it = extra.begin(); it != extra.end(); ++it) obj[it.key()] = it.value();
  return DumpJson(obj);
}

std::string ResultDocument::SafetensorsBody(const Json& extra) const {
  Json meta = fields;
  for (auto it = extra.begin(); it != extra.end(); ++it) meta[it.key()] = it.value();
  Json header = Json::object();
  header["__metadata__"] = {{"aperture", DumpJson(meta)}};
  uint64_t offset = 0;
  std::vector<const Tensor*> order;
  for (size_t i = 0; i < captures.size(); ++i) {
    for (const Tensor& t : captures[i]) {
      const uint64_t bytes = t.data.size() * sizeof(float);
      header[single ? t.name : fmt::format("{}/{}", i, t.name)] = {
          {"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
      order.push_back(&t);
    }
  }
  std::string text = DumpJson(header);
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = text.size();
  for (int b = 0; b < 8; ++b) out[b] = static_cast<char>((n >> (8 * b)) & 0xFF);
  out += text;
  out.reserve(out.size() + offset);
  for (const Tensor* t : order) out.append(reinterpret_cast<const char*>(t->data.data()), t->data.size() * 4);
  return out;
}

ResultDocument RunDocument(const RunPlan& plan, RunResult result) {
  ResultDocument doc;
  doc.single = plan.single;
  const engine::LlamaConfig& c = plan.model->model->config();
  // The model's dimensions under TransformerLens's names (its cfg), with the
  // architecture and the cfg flags that add sites (post-norms, Q/K norms).
  const Json config = {{"n_layers", c.n_layers},  {"d_model", c.dim},
                       {"n_heads", c.n_heads},    {"n_key_value_heads", c.n_kv_heads},
                       {"d_head", c.head_dim},    {"d_mlp", c.ffn_dim},
                       {"d_vocab", c.vocab_size}, {"n_ctx", plan.model->context_length},
                       {"architecture", c.arch},  {"use_normalization_before_and_after", c.post_norms},
                       {"use_qk_norm", c.qk_norm}};
  doc.fields = {{"object", "research.run"}, {"model", plan.model->id}, {"config", config}};
  if (plan.single) {
    const Json fields = InputFields(plan, result.inputs[0]);
    for (auto it = fields.begin(); it != fields.end(); ++it) doc.fields[it.key()] = it.value();
  } else {
    Json results = Json::array();
    for (const InputResult& in : result.inputs) results.push_back(InputFields(plan, in));
    doc.fields["results"] = std::move(results);
  }
  for (InputResult& in : result.inputs) doc.captures.push_back(std::move(in.captures));
  return doc;
}

ResultDocument DirectionDocument(const RunPlan& plan, const RunResult& result, int positive, bool normalize,
                                 const std::string& hook) {
  const Tensor& first = result.inputs[0].captures[0];
  const size_t width = first.data.size();
  std::vector<double> pos(width, 0.0), neg(width, 0.0);
  const int total = static_cast<int>(result.inputs.size());
  for (int i = 0; i < total; ++i) {
    const std::vector<float>& x = result.inputs[i].captures[0].data;
    std::vector<double>& acc = i < positive ? pos : neg;
    for (size_t j = 0; j < width; ++j) acc[j] += x[j];
  }
  std::vector<float> vector(width);
  double norm2 = 0;
  for (size_t j = 0; j < width; ++j) {
    const double d = pos[j] / positive - neg[j] / (total - positive);
    vector[j] = static_cast<float>(d);
    norm2 += d * d;
  }
  const double norm = std::sqrt(norm2);
  if (normalize && norm > 0) {
    for (float& x : vector) x = static_cast<float>(x / norm);
  }
  // The shape of one input's capture, without the single position of "last".
  std::vector<int64_t> shape = first.shape;
  if (!shape.empty() && shape[0] == 1 && shape.size() > 1) shape.erase(shape.begin());
  ResultDocument doc;
  doc.fields = {{"object", "research.direction"},
                {"model", plan.model->id},
                {"hook", hook},
                {"vector", vector},
                {"shape", shape},
                {"norm", norm},
                {"normalized", normalize && norm > 0},
                {"positive", positive},
                {"negative", total - positive}};
  return doc;
}

ResultDocument PatchDocument(const PatchPlan& plan, const PatchResult& result) {
  const double span = result.clean - result.corrupted;
  Json results = Json::array();
  for (const PatchMatrix& m : result.matrices) {
    Json values = Json::array(), raw = Json::array();
    for (const std::vector<double>& row : m.raw) {
      Json v = Json::array(), r = Json::array();
      for (double x : row) {
        r.push_back(std::isfinite(x) ? Json(x) : Json(nullptr));
        v.push_back(std::isfinite(x) && span != 0 ? Json((x - result.corrupted) / span) : Json(nullptr));
      }
      values.push_back(std::move(v));
      raw.push_back(std::move(r));
    }
    results.push_back({{"sites", m.pattern},
                       {"rows", m.sites},
                       {"columns", m.per_head ? "head" : "position"},
                       {"values", std::move(values)},
                       {"raw", std::move(raw)}});
  }
  Json metric = plan.metric == Metric::kLogitDiff ? Json{{"logit_diff", plan.metric_names}}
                                                  : Json{{"logprob", plan.metric_names[0]}};
  ResultDocument doc;
  doc.fields = {{"object", "research.patch"},
                {"model", plan.model->id},
                {"metric", metric},
                {"metric_tokens", plan.metric_tokens},
                {"clean", result.clean},
                {"corrupted", result.corrupted},
                {"tokens", {{"clean", plan.clean}, {"corrupted", plan.corrupted}}},
                {"results", std::move(results)},
                {"patched_runs", result.patched_runs}};
  if (span == 0) doc.fields["note"] = "the clean and corrupted metrics are equal, so values cannot be normalised";
  return doc;
}

}  // namespace aperture::research
