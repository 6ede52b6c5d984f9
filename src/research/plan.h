// Plans: research requests resolved against a loaded model. Planning
// tokenizes the inputs, expands site patterns into sites, resolves
// negative positions, checks every selector and vector against the model's
// dimensions, orders the inputs (those whose values other inputs patch from
// or average over run first), and computes, before anything runs, exactly
// what the request will read, write and cost (its Demand), which the
// research scope admits or refuses.
//
// Errors are InvalidArgument naming the field at fault, e.g.
// "'interventions[0].vector' has 64 values; blocks.0.hook_resid_post's last
// dimension is 768".
//
// Usage:
//   ASSIGN_OR_RETURN(RunPlan plan, PlanRun(spec, model));
//   if (plan.demand.forward_tokens > limit) ...
//
// Thread-safety: pure functions over an immutable model.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "engine/model/hooks.h"
#include "research/spec.h"
#include "scheduler/model_registry.h"

namespace aperture::research {

struct SiteRef {
  engine::HookPoint point = engine::HookPoint::kEmbed;
  int layer = -1;  // -1 for the global sites
  std::string name;
  engine::SiteShape shape() const { return engine::Site(point).shape; }
};

// A site's dimensions in a model.
struct SiteDims {
  int heads = 0;  // rows of heads (KV heads for k/v/rot_k); 0 for sites without heads
  int last = 0;   // the last dimension; 0 for the attention weights (the key positions)
  int width = 0;  // floats per engine row: heads * last, or last
};
SiteDims DimsOf(engine::SiteShape shape, const engine::LlamaConfig& c);

// The sites `pattern` names in a model with config `c` (its layers and its
// architecture's sites), in forward order; InvalidArgument naming `field`
// when there are none.
absl::StatusOr<std::vector<SiteRef>> ExpandSites(std::string_view pattern, const engine::LlamaConfig& c,
                                                 std::string_view field);

// What a request reads, writes and costs: the research scope's input.
struct Demand {
  std::set<std::string> sites_read, sites_written;           // concrete site names
  std::vector<std::string> patterns_read, patterns_written;  // as the request gave them (for the record)
  std::set<std::string> operations;                          // capture, logit_lens, generate, add, patch, ...
  int64_t input_tokens = 0;
  // Tokens run through the model, counting a token run through only some
  // layers (a patching run resumed at a layer) as that fraction of one.
  int64_t forward_tokens = 0;
  int64_t result_bytes = 0;   // float32 payload of the result (tensors, logprobs)
  int64_t working_bytes = 0;  // memory it holds while it runs (at most kMaxWorkingBytes)
};

// An intervention resolved for one site of one input.
struct SiteIntervention {
  SiteRef site;
  Op op = Op::kZero;
  std::vector<float> vector;  // add, set: the last dimension
  float scale = 1.f;
  std::vector<float> mean;  // mean: a whole row (heads * last); filled in from mean_over when computed
  std::vector<int> mean_over;
  int from = -1;                  // patch: the source input
  std::vector<char> at_position;  // per absolute position: applies there (empty: everywhere)
  std::vector<int> heads;         // empty: all
  std::vector<int> neurons;       // empty: all
  int index = 0;                  // in the request's interventions (for messages)
};

// A capture of one site of one input.
struct SiteCapture {
  SiteRef site;
  std::vector<int> positions;  // resolved, in the order given
  std::vector<int> heads;      // empty: all (query heads when ungrouped)
  std::vector<int> neurons;    // empty: all
  bool norm = false, mean = false, ungroup = false;
  std::vector<int64_t> shape;  // of the result tensor
};

struct InputPlan {
  std::vector<int32_t> tokens;
  int phase = 1;  // 0: a source of patch or mean_over values, run first
  std::vector<SiteCapture> captures;
  std::vector<SiteIntervention> interventions;  // those applying to this input, in order
  std::vector<SiteRef> sources;                 // sites other inputs need from this one, every position
  std::vector<int> lens_positions;              // resolved; empty when there is no logit lens
};

struct RunPlan {
  std::shared_ptr<const scheduler::LoadedModel> model;
  std::vector<InputPlan> inputs;
  bool single = true;
  int top_k = 0;
  std::vector<int32_t> target_tokens;
  std::vector<std::string> target_names;  // as given (text, or the id as text)
  int lens_top_k = 0;                     // 0: no logit lens
  std::optional<GenerateSpec> generate;
  Format format = Format::kJson;
  Demand demand;
};

// Patching sweeps: one matrix per site pattern.
struct PatchSite {
  std::string pattern;
  std::vector<SiteRef> sites;  // one per layer it names, in order
  bool per_head = false;       // a (layer, head) matrix, every position patched; else (layer, position)
  int heads = 0;
};

// Patched runs a sweep keeps in flight (each with its own sequence).
inline constexpr int kPatchWorkSequences = 16;

struct PatchPlan {
  std::shared_ptr<const scheduler::LoadedModel> model;
  std::vector<int32_t> clean, corrupted;  // the same length
  Metric metric = Metric::kLogitDiff;
  std::vector<int32_t> metric_tokens;
  std::vector<std::string> metric_names;
  std::vector<PatchSite> sites;
  std::vector<SiteIntervention> interventions;  // on every run
  Demand demand;
};

absl::StatusOr<RunPlan> PlanRun(const RunSpec& spec, std::shared_ptr<const scheduler::LoadedModel> model);
absl::StatusOr<PatchPlan> PlanPatch(const PatchSpec& spec, std::shared_ptr<const scheduler::LoadedModel> model);
// A run capturing the hook over the positive inputs, then the negative ones.
absl::StatusOr<RunPlan> PlanDirections(const DirectionsSpec& spec, std::shared_ptr<const scheduler::LoadedModel> model);

// The interventions of a chat completion (no other inputs), resolved for
// any position (non-negative positions only), and what they write.
struct ChatSteering {
  std::vector<SiteIntervention> interventions;
  Demand demand;
};
absl::StatusOr<ChatSteering> PlanChatInterventions(const std::vector<Intervention>& spec,
                                                   const scheduler::LoadedModel& model);

// Token ids of an input: text encoded with BOS as `bos` says (default: as
// the tokenizer says), or the ids as given (checked against the vocabulary).
absl::StatusOr<std::vector<int32_t>> EncodeInput(const Input& in, std::optional<bool> bos,
                                                 const scheduler::LoadedModel& model, std::string_view field);

}  // namespace aperture::research
