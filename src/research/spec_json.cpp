#include "research/spec_json.h"

#include <cmath>
#include <initializer_list>
#include <limits>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::research {
namespace {

// InvalidArgument naming `field` (the OpenAI-style param).
absl::Status Bad(std::string_view field, std::string_view message) {
  absl::Status s = absl::InvalidArgumentError(fmt::format("'{}' {}", field, message));
  s.SetPayload("aperture/param", absl::Cord(std::string(field)));
  return s;
}

std::string At(std::string_view parent, std::string_view key) {
  return parent.empty() ? std::string(key) : fmt::format("{}.{}", parent, key);
}
std::string At(std::string_view parent, size_t index) { return fmt::format("{}[{}]", parent, index); }

absl::Status OnlyKeys(const Json& obj, std::string_view where, std::initializer_list<std::string_view> known) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    bool ok = false;
    for (std::string_view k : known) ok = ok || it.key() == k;
    if (!ok) {
      std::string list;
      for (std::string_view k : known) list += (list.empty() ? "" : ", ") + std::string(k);
      return Bad(At(where, it.key()), fmt::format("is not a field here (known: {})", list));
    }
  }
  return absl::OkStatus();
}

const Json* Find(const Json& obj, std::string_view key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

absl::StatusOr<int64_t> Int(const Json& v, std::string_view field, int64_t lo, int64_t hi) {
  int64_t x = 0;
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(hi)) return Bad(field, fmt::format("must be at most {}", hi));
    x = static_cast<int64_t>(v.get<uint64_t>());
  } else if (v.is_number_integer()) {
    x = v.get<int64_t>();
  } else {
    return Bad(field, "must be an integer");
  }
  if (x < lo || x > hi) return Bad(field, fmt::format("must be between {} and {} (got {})", lo, hi, x));
  return x;
}

absl::StatusOr<double> Number(const Json& v, std::string_view field) {
  if (!v.is_number()) return Bad(field, "must be a number");
  const double x = v.get<double>();
  if (!std::isfinite(x)) return Bad(field, "must be finite");
  return x;
}

absl::StatusOr<std::string> String(const Json& v, std::string_view field) {
  if (!v.is_string()) return Bad(field, "must be a string");
  return v.get<std::string>();
}

absl::StatusOr<bool> Bool(const Json& v, std::string_view field) {
  if (!v.is_boolean()) return Bad(field, "must be true or false");
  return v.get<bool>();
}

absl::StatusOr<const Json*> Array(const Json& v, std::string_view field, size_t max) {
  if (!v.is_array()) return Bad(field, "must be an array");
  if (v.size() > max) return Bad(field, fmt::format("has {} entries; at most {} are allowed", v.size(), max));
  return &v;
}

absl::StatusOr<std::vector<int>> IntList(const Json& v, std::string_view field, int64_t lo, int64_t hi) {
  ASSIGN_OR_RETURN(const Json* a, Array(v, field, kMaxSelectorEntries));
  std::vector<int> out;
  for (size_t i = 0; i < a->size(); ++i) {
    ASSIGN_OR_RETURN(int64_t x, Int((*a)[i], At(field, i), lo, hi));
    out.push_back(static_cast<int>(x));
  }
  return out;
}

absl::StatusOr<std::vector<float>> FloatList(const Json& v, std::string_view field) {
  ASSIGN_OR_RETURN(const Json* a, Array(v, field, kMaxVectorLength));
  if (a->empty()) return Bad(field, "must not be empty");
  std::vector<float> out;
  out.reserve(a->size());
  for (size_t i = 0; i < a->size(); ++i) {
    ASSIGN_OR_RETURN(double x, Number((*a)[i], At(field, i)));
    if (std::fabs(x) > std::numeric_limits<float>::max()) return Bad(At(field, i), "is out of float range");
    out.push_back(static_cast<float>(x));
  }
  return out;
}

// A site name or pattern: letters, digits, '_', '.', '*'.
absl::StatusOr<std::string> Pattern(const Json& v, std::string_view field) {
  ASSIGN_OR_RETURN(std::string p, String(v, field));
  if (p.empty() || p.size() > kMaxPatternLength) {
    return Bad(field, fmt::format("must be a hook name of 1 to {} characters", kMaxPatternLength));
  }
  for (char c : p) {
    const bool ok =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '*';
    if (!ok) return Bad(field, "may hold only letters, digits, '_', '.' and '*' (e.g. blocks.*.hook_resid_post)");
  }
  return p;
}

absl::StatusOr<Input> ReadInput(const Json& v, std::string_view field) {
  Input in;
  if (v.is_string()) {
    in.text = v.get<std::string>();
    if (in.text.empty()) return Bad(field, "must not be empty");
    return in;
  }
  if (!v.is_array()) return Bad(field, "must be text or an array of token ids");
  if (v.empty()) return Bad(field, "must not be empty");
  in.is_text = false;
  for (size_t i = 0; i < v.size(); ++i) {
    ASSIGN_OR_RETURN(int64_t t, Int(v[i], At(field, i), 0, std::numeric_limits<int32_t>::max()));
    in.tokens.push_back(static_cast<int32_t>(t));
  }
  return in;
}

absl::StatusOr<std::vector<Input>> InputList(const Json& v, std::string_view field) {
  ASSIGN_OR_RETURN(const Json* a, Array(v, field, kMaxInputs));
  if (a->empty()) return Bad(field, "must hold at least one input");
  std::vector<Input> out;
  for (size_t i = 0; i < a->size(); ++i) {
    ASSIGN_OR_RETURN(Input in, ReadInput((*a)[i], At(field, i)));
    out.push_back(std::move(in));
  }
  return out;
}

absl::Status ReadSelector(const Json& obj, std::string_view where, Selector& s) {
  constexpr int64_t kBig = 1 << 24;
  if (const Json* v = Find(obj, "positions")) {
    ASSIGN_OR_RETURN(s.positions, IntList(*v, At(where, "positions"), -kBig, kBig));
  }
  if (const Json* v = Find(obj, "heads")) {
    ASSIGN_OR_RETURN(s.heads, IntList(*v, At(where, "heads"), 0, kBig));
  }
  if (const Json* v = Find(obj, "neurons")) {
    ASSIGN_OR_RETURN(s.neurons, IntList(*v, At(where, "neurons"), 0, kBig));
  }
  return absl::OkStatus();
}

absl::StatusOr<CaptureSpec> ReadCapture(const Json& v, std::string_view field) {
  CaptureSpec c;
  if (v.is_string()) {
    ASSIGN_OR_RETURN(c.hook, Pattern(v, field));
    return c;
  }
  if (!v.is_object()) return Bad(field, "must be a hook name or an object with \"hook\"");
  RETURN_IF_ERROR(OnlyKeys(v, field, {"hook", "positions", "heads", "neurons", "reduce", "ungroup"}));
  const Json* hook = Find(v, "hook");
  if (hook == nullptr) return Bad(At(field, "hook"), "is required");
  ASSIGN_OR_RETURN(c.hook, Pattern(*hook, At(field, "hook")));
  RETURN_IF_ERROR(ReadSelector(v, field, c.where));
  if (const Json* u = Find(v, "ungroup")) {
    ASSIGN_OR_RETURN(c.ungroup, Bool(*u, At(field, "ungroup")));
  }
  if (const Json* r = Find(v, "reduce")) {
    const std::string name = At(field, "reduce");
    std::vector<std::string> steps;
    if (r->is_string()) {
      steps.push_back(r->get<std::string>());
    } else {
      ASSIGN_OR_RETURN(const Json* a, Array(*r, name, 2));
      for (size_t i = 0; i < a->size(); ++i) {
        ASSIGN_OR_RETURN(std::string s, String((*a)[i], At(name, i)));
        steps.push_back(std::move(s));
      }
    }
    for (size_t i = 0; i < steps.size(); ++i) {
      if (steps[i] == "norm" && !c.norm && !c.mean) {
        c.norm = true;
      } else if (steps[i] == "mean" && !c.mean) {
        c.mean = true;
      } else {
        return Bad(name, "must be \"mean\", \"norm\" or [\"norm\", \"mean\"]");
      }
    }
  }
  return c;
}

absl::StatusOr<Op> ReadOp(const Json& v, std::string_view field) {
  ASSIGN_OR_RETURN(std::string name, String(v, field));
  for (Op op : {Op::kAdd, Op::kSet, Op::kScale, Op::kZero, Op::kMean, Op::kPatch}) {
    if (name == OpName(op)) return op;
  }
  return Bad(field, "must be one of add, set, scale, zero, mean, patch");
}

absl::StatusOr<Intervention> ReadIntervention(const Json& v, std::string_view field, bool allow_inputs) {
  if (!v.is_object()) return Bad(field, "must be an object");
  RETURN_IF_ERROR(OnlyKeys(
      v, field,
      {"hook", "op", "vector", "scale", "mean", "mean_over", "from", "positions", "heads", "neurons", "inputs"}));
  Intervention iv;
  const Json* hook = Find(v, "hook");
  if (hook == nullptr) return Bad(At(field, "hook"), "is required");
  ASSIGN_OR_RETURN(iv.hook, Pattern(*hook, At(field, "hook")));
  const Json* op = Find(v, "op");
  if (op == nullptr) return Bad(At(field, "op"), "is required (add, set, scale, zero, mean or patch)");
  ASSIGN_OR_RETURN(iv.op, ReadOp(*op, At(field, "op")));
  RETURN_IF_ERROR(ReadSelector(v, field, iv.where));
  const Json* vector = Find(v, "vector");
  const Json* scale = Find(v, "scale");
  const Json* mean = Find(v, "mean");
  const Json* mean_over = Find(v, "mean_over");
  const Json* from = Find(v, "from");
  const Json* inputs = Find(v, "inputs");
  auto refuse = [&](const Json* present, std::string_view key) -> absl::Status {
    if (present == nullptr) return absl::OkStatus();
    return Bad(At(field, key), fmt::format("does not apply to op '{}'", OpName(iv.op)));
  };
  const bool needs_vector = iv.op == Op::kAdd || iv.op == Op::kSet;
  if (needs_vector) {
    if (vector == nullptr) return Bad(At(field, "vector"), fmt::format("is required for op '{}'", OpName(iv.op)));
    ASSIGN_OR_RETURN(iv.vector, FloatList(*vector, At(field, "vector")));
  } else {
    RETURN_IF_ERROR(refuse(vector, "vector"));
  }
  if (iv.op == Op::kAdd || iv.op == Op::kScale) {
    if (scale == nullptr && iv.op == Op::kScale) return Bad(At(field, "scale"), "is required for op 'scale'");
    if (scale != nullptr) {
      ASSIGN_OR_RETURN(iv.scale, Number(*scale, At(field, "scale")));
    }
  } else {
    RETURN_IF_ERROR(refuse(scale, "scale"));
  }
  if (iv.op == Op::kMean) {
    if ((mean == nullptr) == (mean_over == nullptr)) {
      return Bad(At(field, "mean"), "op 'mean' needs exactly one of \"mean\" (a vector) or \"mean_over\" (inputs)");
    }
    if (mean != nullptr) {
      ASSIGN_OR_RETURN(iv.mean, FloatList(*mean, At(field, "mean")));
    } else {
      if (!allow_inputs) return Bad(At(field, "mean_over"), "is only for /v1/research/run; give \"mean\" here");
      ASSIGN_OR_RETURN(iv.mean_over, IntList(*mean_over, At(field, "mean_over"), 0, kMaxInputs - 1));
      if (iv.mean_over.empty()) return Bad(At(field, "mean_over"), "must name at least one input");
    }
  } else {
    RETURN_IF_ERROR(refuse(mean, "mean"));
    RETURN_IF_ERROR(refuse(mean_over, "mean_over"));
  }
  if (iv.op == Op::kPatch) {
    if (!allow_inputs) return Bad(At(field, "op"), "'patch' is only for /v1/research/run (it copies another input)");
    if (from == nullptr) return Bad(At(field, "from"), "is required for op 'patch' (the input to copy from)");
    ASSIGN_OR_RETURN(int64_t k, Int(*from, At(field, "from"), 0, kMaxInputs - 1));
    iv.from = static_cast<int>(k);
  } else {
    RETURN_IF_ERROR(refuse(from, "from"));
  }
  if (inputs != nullptr) {
    if (!allow_inputs) return Bad(At(field, "inputs"), "is only for /v1/research/run");
    ASSIGN_OR_RETURN(iv.inputs, IntList(*inputs, At(field, "inputs"), 0, kMaxInputs - 1));
  }
  return iv;
}

absl::StatusOr<Target> ReadTarget(const Json& v, std::string_view field) {
  Target t;
  if (v.is_string()) {
    t.text = v.get<std::string>();
    t.is_text = true;
    if (t.text.empty()) return Bad(field, "must not be empty");
    return t;
  }
  ASSIGN_OR_RETURN(int64_t id, Int(v, field, 0, std::numeric_limits<int32_t>::max()));
  t.token = static_cast<int32_t>(id);
  return t;
}

absl::StatusOr<ReturnSpec> ReadReturn(const Json& v, std::string_view field) {
  if (!v.is_object()) return Bad(field, "must be an object");
  RETURN_IF_ERROR(OnlyKeys(v, field, {"top_k", "targets", "logit_lens"}));
  ReturnSpec r;
  if (const Json* k = Find(v, "top_k")) {
    ASSIGN_OR_RETURN(int64_t x, Int(*k, At(field, "top_k"), 0, kMaxTopK));
    r.top_k = static_cast<int>(x);
  }
  if (const Json* t = Find(v, "targets")) {
    ASSIGN_OR_RETURN(const Json* a, Array(*t, At(field, "targets"), kMaxTargets));
    for (size_t i = 0; i < a->size(); ++i) {
      ASSIGN_OR_RETURN(Target target, ReadTarget((*a)[i], At(At(field, "targets"), i)));
      r.targets.push_back(std::move(target));
    }
  }
  if (const Json* lens = Find(v, "logit_lens")) {
    const std::string name = At(field, "logit_lens");
    LensSpec spec;
    if (lens->is_boolean()) {
      if (!lens->get<bool>()) return r;
    } else {
      if (!lens->is_object()) return Bad(name, "must be true or an object {\"top_k\": 5, \"positions\": [...]}");
      RETURN_IF_ERROR(OnlyKeys(*lens, name, {"top_k", "positions"}));
      if (const Json* k = Find(*lens, "top_k")) {
        ASSIGN_OR_RETURN(int64_t x, Int(*k, At(name, "top_k"), 1, kMaxLensTopK));
        spec.top_k = static_cast<int>(x);
      }
      if (const Json* p = Find(*lens, "positions")) {
        ASSIGN_OR_RETURN(spec.positions, IntList(*p, At(name, "positions"), -(1 << 24), 1 << 24));
      }
    }
    r.logit_lens = spec;
  }
  return r;
}

absl::StatusOr<GenerateSpec> ReadGenerate(const Json& v, std::string_view field) {
  if (!v.is_object()) return Bad(field, "must be an object {\"max_tokens\": N, \"temperature\": 0}");
  RETURN_IF_ERROR(OnlyKeys(v, field, {"max_tokens", "temperature", "seed"}));
  GenerateSpec g;
  if (const Json* m = Find(v, "max_tokens")) {
    ASSIGN_OR_RETURN(int64_t x, Int(*m, At(field, "max_tokens"), 1, kMaxGenerateTokens));
    g.max_tokens = static_cast<int>(x);
  }
  if (const Json* t = Find(v, "temperature")) {
    ASSIGN_OR_RETURN(g.temperature, Number(*t, At(field, "temperature")));
    if (g.temperature < 0 || g.temperature > 2) return Bad(At(field, "temperature"), "must be between 0 and 2");
  }
  if (const Json* s = Find(v, "seed")) {
    ASSIGN_OR_RETURN(int64_t x, Int(*s, At(field, "seed"), 0, std::numeric_limits<int64_t>::max()));
    g.seed = static_cast<uint64_t>(x);
  }
  return g;
}

absl::StatusOr<std::string> Model(const Json& body) {
  const Json* m = Find(body, "model");
  if (m == nullptr) return Bad("model", "is required");
  return String(*m, "model");
}

absl::StatusOr<std::optional<bool>> Bos(const Json& body) {
  const Json* b = Find(body, "bos");
  if (b == nullptr) return std::optional<bool>();
  ASSIGN_OR_RETURN(bool x, Bool(*b, "bos"));
  return std::optional<bool>(x);
}

}  // namespace

const char* OpName(Op op) {
  switch (op) {
    case Op::kAdd:
      return "add";
    case Op::kSet:
      return "set";
    case Op::kScale:
      return "scale";
    case Op::kZero:
      return "zero";
    case Op::kMean:
      return "mean";
    case Op::kPatch:
      return "patch";
  }
  return "?";
}

absl::StatusOr<std::vector<Intervention>> ParseInterventions(const Json& list, std::string_view field,
                                                             bool allow_inputs) {
  ASSIGN_OR_RETURN(const Json* a, Array(list, field, kMaxInterventions));
  std::vector<Intervention> out;
  for (size_t i = 0; i < a->size(); ++i) {
    ASSIGN_OR_RETURN(Intervention iv, ReadIntervention((*a)[i], At(field, i), allow_inputs));
    out.push_back(std::move(iv));
  }
  return out;
}

absl::StatusOr<RunSpec> ParseRunSpec(const Json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  RETURN_IF_ERROR(OnlyKeys(
      body, "", {"model", "input", "inputs", "bos", "capture", "interventions", "return", "generate", "format"}));
  RunSpec spec;
  ASSIGN_OR_RETURN(spec.model, Model(body));
  const Json* input = Find(body, "input");
  const Json* inputs = Find(body, "inputs");
  if ((input == nullptr) == (inputs == nullptr)) {
    return Bad("input", "give exactly one of \"input\" (text or token ids) or \"inputs\" (a list of them)");
  }
  if (input != nullptr) {
    ASSIGN_OR_RETURN(Input in, ReadInput(*input, "input"));
    spec.inputs.push_back(std::move(in));
  } else {
    ASSIGN_OR_RETURN(spec.inputs, InputList(*inputs, "inputs"));
    spec.single = false;
  }
  ASSIGN_OR_RETURN(spec.bos, Bos(body));
  if (const Json* c = Find(body, "capture")) {
    ASSIGN_OR_RETURN(const Json* a, Array(*c, "capture", kMaxCaptures));
    for (size_t i = 0; i < a->size(); ++i) {
      ASSIGN_OR_RETURN(CaptureSpec cap, ReadCapture((*a)[i], At("capture", i)));
      spec.captures.push_back(std::move(cap));
    }
  }
  if (const Json* iv = Find(body, "interventions")) {
    ASSIGN_OR_RETURN(spec.interventions, ParseInterventions(*iv, "interventions", /*allow_inputs=*/true));
  }
  if (const Json* r = Find(body, "return")) {
    ASSIGN_OR_RETURN(spec.ret, ReadReturn(*r, "return"));
  }
  if (const Json* g = Find(body, "generate")) {
    ASSIGN_OR_RETURN(GenerateSpec gen, ReadGenerate(*g, "generate"));
    spec.generate = gen;
  }
  if (const Json* f = Find(body, "format")) {
    ASSIGN_OR_RETURN(std::string name, String(*f, "format"));
    if (name == "json") {
      spec.format = Format::kJson;
    } else if (name == "safetensors") {
      spec.format = Format::kSafetensors;
    } else {
      return Bad("format", "must be \"json\" or \"safetensors\"");
    }
  }
  return spec;
}

absl::StatusOr<PatchSpec> ParsePatchSpec(const Json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  RETURN_IF_ERROR(OnlyKeys(body, "", {"model", "clean", "corrupted", "bos", "sites", "metric", "interventions"}));
  PatchSpec spec;
  ASSIGN_OR_RETURN(spec.model, Model(body));
  for (auto [key, dst] : {std::pair{"clean", &spec.clean}, std::pair{"corrupted", &spec.corrupted}}) {
    const Json* v = Find(body, key);
    if (v == nullptr) return Bad(key, "is required (text or token ids)");
    ASSIGN_OR_RETURN(*dst, ReadInput(*v, key));
  }
  ASSIGN_OR_RETURN(spec.bos, Bos(body));
  const Json* sites = Find(body, "sites");
  if (sites == nullptr) return Bad("sites", "is required, e.g. [\"blocks.*.hook_resid_pre\"]");
  if (sites->is_string()) {
    ASSIGN_OR_RETURN(std::string p, Pattern(*sites, "sites"));
    spec.sites.push_back(std::move(p));
  } else {
    ASSIGN_OR_RETURN(const Json* a, Array(*sites, "sites", kMaxPatchSites));
    if (a->empty()) return Bad("sites", "must name at least one site pattern");
    for (size_t i = 0; i < a->size(); ++i) {
      ASSIGN_OR_RETURN(std::string p, Pattern((*a)[i], At("sites", i)));
      spec.sites.push_back(std::move(p));
    }
  }
  const Json* metric = Find(body, "metric");
  if (metric == nullptr || !metric->is_object() || metric->size() != 1) {
    return Bad("metric", "must be {\"logit_diff\": [\" Mary\", \" John\"]} or {\"logprob\": \" Paris\"}");
  }
  if (const Json* diff = Find(*metric, "logit_diff")) {
    spec.metric = Metric::kLogitDiff;
    ASSIGN_OR_RETURN(const Json* a, Array(*diff, "metric.logit_diff", 2));
    if (a->size() != 2) return Bad("metric.logit_diff", "must be two targets [correct, incorrect]");
    for (size_t i = 0; i < 2; ++i) {
      ASSIGN_OR_RETURN(Target t, ReadTarget((*a)[i], At("metric.logit_diff", i)));
      spec.metric_targets.push_back(std::move(t));
    }
  } else if (const Json* lp = Find(*metric, "logprob")) {
    spec.metric = Metric::kLogprob;
    ASSIGN_OR_RETURN(Target t, ReadTarget(*lp, "metric.logprob"));
    spec.metric_targets.push_back(std::move(t));
  } else {
    return Bad("metric", "must be {\"logit_diff\": [a, b]} or {\"logprob\": t}");
  }
  if (const Json* iv = Find(body, "interventions")) {
    ASSIGN_OR_RETURN(spec.interventions, ParseInterventions(*iv, "interventions", /*allow_inputs=*/false));
  }
  return spec;
}

absl::StatusOr<DirectionsSpec> ParseDirectionsSpec(const Json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("the body must be a JSON object");
  RETURN_IF_ERROR(OnlyKeys(body, "", {"model", "hook", "positive", "negative", "bos", "position", "normalize"}));
  DirectionsSpec spec;
  ASSIGN_OR_RETURN(spec.model, Model(body));
  const Json* hook = Find(body, "hook");
  if (hook == nullptr) return Bad("hook", "is required, e.g. \"blocks.3.hook_resid_post\"");
  ASSIGN_OR_RETURN(spec.hook, Pattern(*hook, "hook"));
  if (spec.hook.find('*') != std::string::npos) return Bad("hook", "must name one site (no '*')");
  for (auto [key, dst] : {std::pair{"positive", &spec.positive}, std::pair{"negative", &spec.negative}}) {
    const Json* v = Find(body, key);
    if (v == nullptr) return Bad(key, "is required (a list of inputs)");
    ASSIGN_OR_RETURN(*dst, InputList(*v, key));
  }
  if (spec.positive.size() + spec.negative.size() > static_cast<size_t>(kMaxInputs)) {
    return Bad("positive", fmt::format("positive and negative hold at most {} inputs together", kMaxInputs));
  }
  ASSIGN_OR_RETURN(spec.bos, Bos(body));
  if (const Json* p = Find(body, "position")) {
    ASSIGN_OR_RETURN(std::string name, String(*p, "position"));
    if (name == "last") {
      spec.last_position = true;
    } else if (name != "mean") {
      return Bad("position", "must be \"mean\" (over each input's positions) or \"last\"");
    }
  }
  if (const Json* n = Find(body, "normalize")) {
    ASSIGN_OR_RETURN(spec.normalize, Bool(*n, "normalize"));
  }
  return spec;
}

}  // namespace aperture::research
