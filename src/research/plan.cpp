#include "research/plan.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/glob.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture::research {
namespace {

using engine::SiteShape;

absl::Status Bad(std::string_view field, std::string_view message) {
  absl::Status s = absl::InvalidArgumentError(fmt::format("'{}' {}", field, message));
  s.SetPayload("aperture/param", absl::Cord(std::string(field)));
  return s;
}

bool HasHeads(SiteShape s) {
  return s == SiteShape::kQHeads || s == SiteShape::kKvHeads || s == SiteShape::kHeadsByKey ||
         s == SiteShape::kQHeadScale || s == SiteShape::kKvHeadScale;
}

// Positions as given (negative from the end of n) -> 0..limit-1.
absl::StatusOr<std::vector<int>> ResolvePositions(const std::vector<int>& given, int n, int limit,
                                                  std::string_view field) {
  std::vector<int> out;
  for (size_t i = 0; i < given.size(); ++i) {
    const int p = given[i] < 0 ? n + given[i] : given[i];
    if (p < 0 || p >= limit) {
      return Bad(fmt::format("{}[{}]", field, i),
                 fmt::format("is position {}, outside the input's {} tokens", given[i], limit));
    }
    out.push_back(p);
  }
  return out;
}

absl::Status CheckIndices(const std::vector<int>& v, int limit, std::string_view field, std::string_view what) {
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] >= limit) {
      return Bad(fmt::format("{}[{}]", field, i), fmt::format("is {} {}; there are {}", what, v[i], limit));
    }
  }
  return absl::OkStatus();
}

// Continuation tokens of a target: the tokens `text` adds after a neutral
// context, so " Paris" is the token that follows a word.
absl::StatusOr<int32_t> ResolveTarget(const Target& t, const scheduler::LoadedModel& model, std::string_view field) {
  if (!t.is_text) {
    if (t.token >= model.vocab_size()) {
      return Bad(field, fmt::format("is token {}, outside the vocabulary of {}", t.token, model.vocab_size()));
    }
    return t.token;
  }
  const engine::Tokenizer& tok = *model.tokenizer;
  const std::vector<int32_t> context = tok.Encode(".", false, false);
  const std::vector<int32_t> whole = tok.Encode("." + t.text, false, false);
  std::vector<int32_t> ids(whole.begin() + std::min(whole.size(), context.size()), whole.end());
  if (whole.size() <= context.size() || !std::equal(context.begin(), context.end(), whole.begin())) {
    ids = tok.Encode(t.text, false, false);
  }
  if (ids.size() != 1) {
    std::string list;
    for (int32_t id : ids) list += (list.empty() ? "" : ", ") + std::to_string(id);
    return Bad(field, fmt::format("'{}' is {} tokens ([{}]); give a text of one token, or a token id", t.text,
                                  ids.size(), list));
  }
  return ids[0];
}

int64_t Elements(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// The result shape of a capture (TransformerLens's, for one input).
std::vector<int64_t> CaptureShape(const SiteCapture& c, const SiteDims& d, int n_heads, int n) {
  const int64_t positions = c.positions.empty() ? n : static_cast<int64_t>(c.positions.size());
  const SiteShape shape = c.site.shape();
  const int64_t heads = !c.heads.empty() ? static_cast<int64_t>(c.heads.size()) : c.ungroup ? n_heads : d.heads;
  if (shape == SiteShape::kHeadsByKey) {
    const int64_t keys = c.neurons.empty() ? n : static_cast<int64_t>(c.neurons.size());
    std::vector<int64_t> s = {heads, positions, keys};
    if (c.norm) s.pop_back();
    if (c.mean) s.erase(s.begin() + 1);
    return s;
  }
  const int64_t last = c.neurons.empty() ? d.last : static_cast<int64_t>(c.neurons.size());
  std::vector<int64_t> s = {positions};
  if (HasHeads(shape)) s.push_back(heads);
  s.push_back(last);
  if (c.norm) s.pop_back();
  if (c.mean) s.erase(s.begin());
  return s;
}

// Checks an intervention against one site; `n` is the input's length (0: unknown, as in chat).
absl::Status CheckIntervention(const Intervention& iv, const SiteRef& site, const engine::LlamaConfig& c,
                               std::string_view field) {
  const SiteShape shape = site.shape();
  const SiteDims d = DimsOf(shape, c);
  if (shape == SiteShape::kHeadsByKey && (iv.op == Op::kAdd || iv.op == Op::kSet || iv.op == Op::kMean)) {
    return Bad(fmt::format("{}.op", field),
               fmt::format("'{}' does not apply to {} (attention weights take zero, scale and patch)", OpName(iv.op),
                           site.name));
  }
  if (!iv.where.heads.empty()) {
    if (!HasHeads(shape)) return Bad(fmt::format("{}.heads", field), fmt::format("{} has no heads", site.name));
    RETURN_IF_ERROR(CheckIndices(iv.where.heads, d.heads, fmt::format("{}.heads", field), "head"));
  }
  if (shape != SiteShape::kHeadsByKey) {
    RETURN_IF_ERROR(CheckIndices(iv.where.neurons, d.last, fmt::format("{}.neurons", field), "index"));
  }
  if ((iv.op == Op::kAdd || iv.op == Op::kSet) && static_cast<int>(iv.vector.size()) != d.last) {
    return Bad(fmt::format("{}.vector", field),
               fmt::format("has {} values; {}'s last dimension is {}", iv.vector.size(), site.name, d.last));
  }
  if (iv.op == Op::kMean && !iv.mean.empty() && static_cast<int>(iv.mean.size()) != d.last &&
      static_cast<int>(iv.mean.size()) != d.width) {
    return Bad(fmt::format("{}.mean", field),
               fmt::format("has {} values; {} takes {} (its last dimension) or {} (a whole row)", iv.mean.size(),
                           site.name, d.last, d.width));
  }
  return absl::OkStatus();
}

SiteIntervention Resolve(const Intervention& iv, const SiteRef& site, const engine::LlamaConfig& c, int index) {
  SiteIntervention out;
  out.site = site;
  out.op = iv.op;
  out.vector = iv.vector;
  out.scale = static_cast<float>(iv.scale);
  out.from = iv.from;
  out.mean_over = iv.mean_over;
  out.heads = iv.where.heads;
  out.neurons = iv.where.neurons;
  out.index = index;
  if (iv.op == Op::kMean && !iv.mean.empty()) {
    const SiteDims d = DimsOf(site.shape(), c);
    if (static_cast<int>(iv.mean.size()) == d.width) {
      out.mean = iv.mean;
    } else {  // one head's (or row's) mean, the same for every head
      for (int h = 0; h < std::max(d.heads, 1); ++h) out.mean.insert(out.mean.end(), iv.mean.begin(), iv.mean.end());
    }
  }
  return out;
}

std::vector<char> PositionMask(const std::vector<int>& positions, int size) {
  if (positions.empty()) return {};
  std::vector<char> mask(size, 0);
  for (int p : positions) mask[p] = 1;
  return mask;
}

int64_t KvBytes(const engine::LlamaConfig& c, int positions) {
  return int64_t{8} * c.n_layers * c.kv_dim() * positions;
}

int64_t ValuesBytes(const SiteRef& site, const engine::LlamaConfig& c, int n) {
  const SiteDims d = DimsOf(site.shape(), c);
  return site.shape() == SiteShape::kHeadsByKey ? int64_t{4} * d.heads * n * n : int64_t{4} * d.width * n;
}

absl::Status CheckWorkingBytes(const Demand& d) {
  if (d.working_bytes <= kMaxWorkingBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      fmt::format("this request needs {} MiB of working memory (caches, captures, patch sources); a request may "
                  "use {} MiB: select fewer positions, heads or sites, or split it",
                  d.working_bytes >> 20, kMaxWorkingBytes >> 20));
}

void NoteWrite(Demand& d, const Intervention& iv, const std::vector<SiteRef>& sites) {
  d.patterns_written.push_back(iv.hook);
  d.operations.insert(OpName(iv.op));
  for (const SiteRef& s : sites) d.sites_written.insert(s.name);
}

}  // namespace

SiteDims DimsOf(SiteShape shape, const engine::LlamaConfig& c) {
  switch (shape) {
    case SiteShape::kModel:
      return {0, c.dim, c.dim};
    case SiteShape::kScale:
      return {0, 1, 1};
    case SiteShape::kQHeads:
      return {c.n_heads, c.head_dim, c.q_dim()};
    case SiteShape::kKvHeads:
      return {c.n_kv_heads, c.head_dim, c.kv_dim()};
    case SiteShape::kMlp:
      return {0, c.ffn_dim, c.ffn_dim};
    case SiteShape::kHeadsByKey:
      return {c.n_heads, 0, 0};
    case SiteShape::kQHeadScale:
      return {c.n_heads, 1, c.n_heads};
    case SiteShape::kKvHeadScale:
      return {c.n_kv_heads, 1, c.n_kv_heads};
  }
  return {};
}

absl::StatusOr<std::vector<SiteRef>> ExpandSites(std::string_view pattern, const engine::LlamaConfig& c,
                                                 std::string_view field) {
  const int n_layers = c.n_layers;
  std::vector<SiteRef> out;
  for (const std::string& name : engine::Hooks::AllNames(n_layers, c.site_features())) {
    if (!GlobMatch(pattern, name)) continue;
    ASSIGN_OR_RETURN(auto parsed, engine::Hooks::ParseName(name, n_layers, c.site_features()));
    out.push_back({parsed.first, parsed.second, name});
  }
  if (out.empty()) {
    return Bad(field, fmt::format("'{}' names no site of this model (it has layers 0 to {}; sites look like "
                                  "hook_embed, blocks.0.hook_resid_pre, blocks.*.attn.hook_z, "
                                  "ln_final.hook_normalized)",
                                  pattern, n_layers - 1));
  }
  return out;
}

absl::StatusOr<std::vector<int32_t>> EncodeInput(const Input& in, std::optional<bool> bos,
                                                 const scheduler::LoadedModel& model, std::string_view field) {
  std::vector<int32_t> ids;
  if (in.is_text) {
    const engine::Tokenizer& tok = *model.tokenizer;
    if (!bos.has_value()) {
      ids = tok.Encode(in.text, /*add_special=*/true, /*parse_special=*/false);
    } else {
      ids = tok.Encode(in.text, /*add_special=*/false, /*parse_special=*/false);
      if (*bos) {
        if (tok.bos_id() < 0) return Bad("bos", "is true but the model's tokenizer has no BOS token");
        ids.insert(ids.begin(), tok.bos_id());
      }
    }
    if (ids.empty()) return Bad(field, "encodes to no tokens");
  } else {
    ids = in.tokens;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] >= model.vocab_size()) {
        return Bad(fmt::format("{}[{}]", field, i),
                   fmt::format("is token {}, outside the vocabulary of {}", ids[i], model.vocab_size()));
      }
    }
  }
  if (static_cast<int>(ids.size()) > model.context_length) {
    return Bad(field,
               fmt::format("is {} tokens, more than the model's context of {}", ids.size(), model.context_length));
  }
  return ids;
}

absl::StatusOr<RunPlan> PlanRun(const RunSpec& spec, std::shared_ptr<const scheduler::LoadedModel> model) {
  const engine::LlamaConfig& c = model->model->config();
  RunPlan plan;
  plan.single = spec.single;
  plan.format = spec.format;
  plan.generate = spec.generate;
  plan.top_k = spec.ret.top_k;
  const int n_inputs = static_cast<int>(spec.inputs.size());
  const int gen = spec.generate ? spec.generate->max_tokens : 0;
  Demand& demand = plan.demand;
  plan.inputs.resize(n_inputs);
  for (int i = 0; i < n_inputs; ++i) {
    const std::string field = spec.single ? "input" : fmt::format("inputs[{}]", i);
    ASSIGN_OR_RETURN(plan.inputs[i].tokens, EncodeInput(spec.inputs[i], spec.bos, *model, field));
    const int n = static_cast<int>(plan.inputs[i].tokens.size());
    if (n + gen > model->context_length) {
      return Bad("generate.max_tokens", fmt::format("input {} ({} tokens) plus {} generated is more than the "
                                                    "model's context of {}",
                                                    i, n, gen, model->context_length));
    }
    demand.input_tokens += n;
    demand.forward_tokens += n + gen;
  }
  for (size_t t = 0; t < spec.ret.targets.size(); ++t) {
    const Target& target = spec.ret.targets[t];
    ASSIGN_OR_RETURN(int32_t id, ResolveTarget(target, *model, fmt::format("return.targets[{}]", t)));
    plan.target_tokens.push_back(id);
    plan.target_names.push_back(target.is_text ? target.text : std::to_string(target.token));
  }
  if (plan.top_k > 0 || !plan.target_tokens.empty()) demand.operations.insert("logprobs");
  demand.result_bytes += int64_t{8} * n_inputs * (plan.top_k + static_cast<int64_t>(plan.target_tokens.size()));
  if (gen > 0) {
    demand.operations.insert("generate");
    demand.result_bytes += int64_t{8} * n_inputs * gen;
  }

  // Captures, each site once (results are keyed by site).
  std::map<std::string, size_t> captured_by;
  for (size_t k = 0; k < spec.captures.size(); ++k) {
    const CaptureSpec& cs = spec.captures[k];
    const std::string field = fmt::format("capture[{}]", k);
    ASSIGN_OR_RETURN(std::vector<SiteRef> sites, ExpandSites(cs.hook, c, field));
    demand.patterns_read.push_back(cs.hook);
    demand.operations.insert("capture");
    for (const SiteRef& site : sites) {
      if (auto [it, fresh] = captured_by.emplace(site.name, k); !fresh) {
        return Bad(field, fmt::format("captures {} again (capture[{}] has it); capture each site once", site.name,
                                      it->second));
      }
      const SiteShape shape = site.shape();
      const SiteDims d = DimsOf(shape, c);
      if (!cs.where.heads.empty() && !HasHeads(shape)) {
        return Bad(field + ".heads", fmt::format("{} has no heads (pick per-head sites, or drop 'heads')", site.name));
      }
      if (cs.ungroup && shape != SiteShape::kKvHeads) {
        return Bad(field + ".ungroup", fmt::format("applies to hook_k, hook_v and hook_rot_k, not {}", site.name));
      }
      const int heads = cs.ungroup ? c.n_heads : d.heads;
      RETURN_IF_ERROR(CheckIndices(cs.where.heads, heads, field + ".heads", "head"));
      if (shape != SiteShape::kHeadsByKey) {
        RETURN_IF_ERROR(CheckIndices(cs.where.neurons, d.last, field + ".neurons", "index"));
      }
      demand.sites_read.insert(site.name);
      for (int i = 0; i < n_inputs; ++i) {
        const int n = static_cast<int>(plan.inputs[i].tokens.size());
        SiteCapture cap;
        cap.site = site;
        ASSIGN_OR_RETURN(cap.positions, ResolvePositions(cs.where.positions, n, n, field + ".positions"));
        if (shape == SiteShape::kHeadsByKey) {
          RETURN_IF_ERROR(CheckIndices(cs.where.neurons, n, field + ".neurons", "key position"));
        }
        cap.heads = cs.where.heads;
        cap.neurons = cs.where.neurons;
        cap.norm = cs.norm;
        cap.mean = cs.mean;
        cap.ungroup = cs.ungroup;
        cap.shape = CaptureShape(cap, d, c.n_heads, n);
        demand.result_bytes += 4 * Elements(cap.shape);
        plan.inputs[i].captures.push_back(std::move(cap));
      }
    }
  }

  // Interventions: which inputs they apply to, and which inputs are sources.
  std::vector<char> source(n_inputs, 0);
  for (const Intervention& iv : spec.interventions) {
    if (iv.op == Op::kPatch && iv.from < n_inputs) source[iv.from] = 1;
    for (int k : iv.mean_over)
      if (k < n_inputs) source[k] = 1;
  }
  for (size_t v = 0; v < spec.interventions.size(); ++v) {
    const Intervention& iv = spec.interventions[v];
    const std::string field = fmt::format("interventions[{}]", v);
    ASSIGN_OR_RETURN(std::vector<SiteRef> sites, ExpandSites(iv.hook, c, field + ".hook"));
    for (const SiteRef& site : sites) RETURN_IF_ERROR(CheckIntervention(iv, site, c, field));
    NoteWrite(demand, iv, sites);
    if (iv.op == Op::kPatch && iv.from >= n_inputs) {
      return Bad(field + ".from", fmt::format("is input {}; the request has {}", iv.from, n_inputs));
    }
    for (size_t j = 0; j < iv.mean_over.size(); ++j) {
      if (iv.mean_over[j] >= n_inputs) {
        return Bad(fmt::format("{}.mean_over[{}]", field, j),
                   fmt::format("is input {}; the request has {}", iv.mean_over[j], n_inputs));
      }
    }
    std::vector<int> targets = iv.inputs;
    if (targets.empty()) {
      for (int i = 0; i < n_inputs; ++i)
        if (iv.op != Op::kPatch || i != iv.from) targets.push_back(i);
    }
    for (size_t j = 0; j < targets.size(); ++j) {
      const int i = targets[j];
      if (i >= n_inputs) {
        return Bad(fmt::format("{}.inputs[{}]", field, j), fmt::format("is input {}; the request has {}", i, n_inputs));
      }
      const bool needs_source = iv.op == Op::kPatch || !iv.mean_over.empty();
      if (needs_source && source[i]) {
        return Bad(field, fmt::format("would write input {} from other inputs, but input {} is itself a source of "
                                      "patched or averaged values; use separate requests",
                                      i, i));
      }
      InputPlan& in = plan.inputs[i];
      const int n = static_cast<int>(in.tokens.size());
      if (iv.op == Op::kPatch && static_cast<int>(plan.inputs[iv.from].tokens.size()) != n) {
        return Bad(field + ".from", fmt::format("input {} has {} tokens and input {} has {}: patching copies the same "
                                                "positions, so they must be the same length",
                                                iv.from, plan.inputs[iv.from].tokens.size(), i, n));
      }
      ASSIGN_OR_RETURN(std::vector<int> positions,
                       ResolvePositions(iv.where.positions, n, n + gen, field + ".positions"));
      for (const SiteRef& site : sites) {
        if (site.shape() == SiteShape::kHeadsByKey) {
          RETURN_IF_ERROR(CheckIndices(iv.where.neurons, n + gen, field + ".neurons", "key position"));
        }
        SiteIntervention si = Resolve(iv, site, c, static_cast<int>(v));
        si.at_position = PositionMask(positions, n + gen);
        in.interventions.push_back(std::move(si));
        // The values it copies or averages come from the sources, every position.
        std::vector<int> from = iv.mean_over;
        if (iv.op == Op::kPatch) from.push_back(iv.from);
        for (int k : from) {
          std::vector<SiteRef>& need = plan.inputs[k].sources;
          if (std::none_of(need.begin(), need.end(), [&](const SiteRef& s) { return s.name == site.name; })) {
            need.push_back(site);
          }
          demand.sites_read.insert(site.name);
        }
      }
    }
  }
  for (int i = 0; i < n_inputs; ++i) plan.inputs[i].phase = source[i] ? 0 : 1;

  if (spec.ret.logit_lens) {
    plan.lens_top_k = spec.ret.logit_lens->top_k;
    demand.operations.insert("logit_lens");
    for (int l = 0; l < c.n_layers; ++l) demand.sites_read.insert(fmt::format("blocks.{}.hook_resid_post", l));
    demand.patterns_read.push_back("blocks.*.hook_resid_post");
    for (int i = 0; i < n_inputs; ++i) {
      InputPlan& in = plan.inputs[i];
      const int n = static_cast<int>(in.tokens.size());
      if (spec.ret.logit_lens->positions.empty()) {
        for (int p = 0; p < n; ++p) in.lens_positions.push_back(p);
      } else {
        ASSIGN_OR_RETURN(in.lens_positions,
                         ResolvePositions(spec.ret.logit_lens->positions, n, n, "return.logit_lens.positions"));
      }
      demand.result_bytes += int64_t{8} * c.n_layers * static_cast<int64_t>(in.lens_positions.size()) * plan.lens_top_k;
    }
  }
  for (const InputPlan& in : plan.inputs) {
    const int n = static_cast<int>(in.tokens.size());
    demand.working_bytes += KvBytes(c, n + gen) + int64_t{4} * c.n_layers * c.dim * in.lens_positions.size();
    for (const SiteRef& s : in.sources) demand.working_bytes += ValuesBytes(s, c, n);
  }
  demand.working_bytes += demand.result_bytes;
  RETURN_IF_ERROR(CheckWorkingBytes(demand));
  plan.model = std::move(model);
  return plan;
}

absl::StatusOr<PatchPlan> PlanPatch(const PatchSpec& spec, std::shared_ptr<const scheduler::LoadedModel> model) {
  const engine::LlamaConfig& c = model->model->config();
  PatchPlan plan;
  ASSIGN_OR_RETURN(plan.clean, EncodeInput(spec.clean, spec.bos, *model, "clean"));
  ASSIGN_OR_RETURN(plan.corrupted, EncodeInput(spec.corrupted, spec.bos, *model, "corrupted"));
  const int n = static_cast<int>(plan.clean.size());
  if (static_cast<int>(plan.corrupted.size()) != n) {
    return Bad("corrupted", fmt::format("has {} tokens and clean has {}: patching compares the same positions, so "
                                        "they must be the same length",
                                        plan.corrupted.size(), n));
  }
  plan.metric = spec.metric;
  for (size_t t = 0; t < spec.metric_targets.size(); ++t) {
    const std::string field =
        spec.metric == Metric::kLogitDiff ? fmt::format("metric.logit_diff[{}]", t) : "metric.logprob";
    ASSIGN_OR_RETURN(int32_t id, ResolveTarget(spec.metric_targets[t], *model, field));
    plan.metric_tokens.push_back(id);
    plan.metric_names.push_back(spec.metric_targets[t].is_text ? spec.metric_targets[t].text
                                                               : std::to_string(spec.metric_targets[t].token));
  }
  Demand& demand = plan.demand;
  demand.input_tokens = 2 * n;
  demand.operations.insert("patch");
  double forward = 2.0 * n;
  for (size_t k = 0; k < spec.sites.size(); ++k) {
    const std::string field = fmt::format("sites[{}]", k);
    PatchSite ps;
    ps.pattern = spec.sites[k];
    ASSIGN_OR_RETURN(ps.sites, ExpandSites(ps.pattern, c, field));
    ps.per_head = HasHeads(ps.sites[0].shape());
    for (const SiteRef& s : ps.sites) {
      if (HasHeads(s.shape()) != ps.per_head) {
        return Bad(field, fmt::format("'{}' names per-head sites and others ({} and {}); one pattern per kind",
                                      ps.pattern, ps.sites[0].name, s.name));
      }
      if (ps.per_head) ps.heads = std::max(ps.heads, DimsOf(s.shape(), c).heads);
      demand.sites_read.insert(s.name);
      demand.sites_written.insert(s.name);
      const int layer = s.layer >= 0 ? s.layer : s.point == engine::HookPoint::kEmbed ? 0 : c.n_layers;
      const double layers = static_cast<double>(c.n_layers - layer) / c.n_layers;
      if (ps.per_head) {
        forward += static_cast<double>(DimsOf(s.shape(), c).heads) * n * std::max(layers, 1.0 / c.n_layers);
      } else {
        for (int p = 0; p < n; ++p) forward += (n - p) * std::max(layers, 1.0 / c.n_layers);
      }
    }
    demand.patterns_read.push_back(ps.pattern);
    demand.patterns_written.push_back(ps.pattern);
    demand.result_bytes += int64_t{16} * static_cast<int64_t>(ps.sites.size()) * (ps.per_head ? ps.heads : n);
    plan.sites.push_back(std::move(ps));
  }
  demand.forward_tokens = static_cast<int64_t>(std::ceil(forward));
  for (size_t v = 0; v < spec.interventions.size(); ++v) {
    const Intervention& iv = spec.interventions[v];
    const std::string field = fmt::format("interventions[{}]", v);
    ASSIGN_OR_RETURN(std::vector<SiteRef> sites, ExpandSites(iv.hook, c, field + ".hook"));
    ASSIGN_OR_RETURN(std::vector<int> positions, ResolvePositions(iv.where.positions, n, n, field + ".positions"));
    for (const SiteRef& site : sites) {
      RETURN_IF_ERROR(CheckIntervention(iv, site, c, field));
      if (site.shape() == SiteShape::kHeadsByKey) {
        RETURN_IF_ERROR(CheckIndices(iv.where.neurons, n, field + ".neurons", "key position"));
      }
      SiteIntervention si = Resolve(iv, site, c, static_cast<int>(v));
      si.at_position = PositionMask(positions, n);
      plan.interventions.push_back(std::move(si));
    }
    NoteWrite(demand, iv, sites);
  }
  // Clean and corrupted caches, the residuals patched runs resume from, the
  // clean values of every patched site, and the work sequences.
  demand.working_bytes = KvBytes(c, n) * (2 + kPatchWorkSequences) + int64_t{4} * (c.n_layers + 1) * c.dim * n;
  for (const PatchSite& ps : plan.sites)
    for (const SiteRef& s : ps.sites) demand.working_bytes += ValuesBytes(s, c, n);
  RETURN_IF_ERROR(CheckWorkingBytes(demand));
  plan.model = std::move(model);
  return plan;
}

absl::StatusOr<RunPlan> PlanDirections(const DirectionsSpec& spec,
                                       std::shared_ptr<const scheduler::LoadedModel> model) {
  // Inputs and the site are checked here, so errors name the fields as this request spells them.
  ASSIGN_OR_RETURN(std::vector<SiteRef> sites, ExpandSites(spec.hook, model->model->config(), "hook"));
  if (sites.size() != 1) return Bad("hook", "must name exactly one site");
  if (sites[0].shape() == SiteShape::kHeadsByKey) {
    return Bad("hook", fmt::format("is {}, whose shape depends on each input's length; a direction takes a site of "
                                   "fixed width (the residual stream, an MLP or attention output, a head's z)",
                                   sites[0].name));
  }
  RunSpec run;
  run.model = spec.model;
  run.single = false;
  for (auto [name, list] : {std::pair{"positive", &spec.positive}, std::pair{"negative", &spec.negative}}) {
    for (size_t i = 0; i < list->size(); ++i) {
      Input in;
      in.is_text = false;
      ASSIGN_OR_RETURN(in.tokens, EncodeInput((*list)[i], spec.bos, *model, fmt::format("{}[{}]", name, i)));
      run.inputs.push_back(std::move(in));
    }
  }
  CaptureSpec cap;
  cap.hook = spec.hook;
  cap.mean = !spec.last_position;
  if (spec.last_position) cap.where.positions = {-1};
  run.captures.push_back(cap);
  ASSIGN_OR_RETURN(RunPlan plan, PlanRun(run, std::move(model)));
  plan.demand.operations.insert("directions");
  return plan;
}

absl::StatusOr<ChatSteering> PlanChatInterventions(const std::vector<Intervention>& spec,
                                                   const scheduler::LoadedModel& model) {
  const engine::LlamaConfig& c = model.model->config();
  ChatSteering out;
  for (size_t v = 0; v < spec.size(); ++v) {
    const Intervention& iv = spec[v];
    const std::string field = fmt::format("interventions[{}]", v);
    ASSIGN_OR_RETURN(std::vector<SiteRef> sites, ExpandSites(iv.hook, c, field + ".hook"));
    int size = 0;
    for (size_t j = 0; j < iv.where.positions.size(); ++j) {
      const int p = iv.where.positions[j];
      if (p < 0 || p >= model.context_length) {
        return Bad(fmt::format("{}.positions[{}]", field, j),
                   fmt::format("is {}; in a chat, positions count from the start of the rendered conversation "
                               "(0 to {})",
                               p, model.context_length - 1));
      }
      size = std::max(size, p + 1);
    }
    for (const SiteRef& site : sites) {
      RETURN_IF_ERROR(CheckIntervention(iv, site, c, field));
      SiteIntervention si = Resolve(iv, site, c, static_cast<int>(v));
      si.at_position = PositionMask(iv.where.positions, size);
      out.interventions.push_back(std::move(si));
    }
    NoteWrite(out.demand, iv, sites);
  }
  return out;
}

}  // namespace aperture::research
