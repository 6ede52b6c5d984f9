// The research requests as the API takes them, parsed but not yet resolved
// against a model: `run` (captures, interventions, returns, steered
// generation), `patch` (an activation-patching sweep) and `directions` (a
// steering vector from contrast inputs). Plain value types; ParseRunSpec
// and friends (spec_json.h) fill them from JSON with bounds checks, and
// plan.h resolves them against a loaded model. See docs/research.md.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace aperture::research {

// Bounds on one request, whatever the caller's scope allows.
inline constexpr int kMaxInputs = 64;
inline constexpr int kMaxCaptures = 64;
inline constexpr int kMaxInterventions = 64;
inline constexpr int kMaxPatchSites = 16;
inline constexpr int kMaxPatternLength = 128;
inline constexpr int kMaxSelectorEntries = 4096;
inline constexpr int kMaxVectorLength = 1 << 18;
inline constexpr int kMaxTopK = 100;
inline constexpr int kMaxLensTopK = 20;
inline constexpr int kMaxTargets = 64;
inline constexpr int kMaxGenerateTokens = 4096;
// Memory one request may hold beyond the model: KV caches, captures, the
// values patches and means are taken from, the logit lens's residuals.
inline constexpr int64_t kMaxWorkingBytes = int64_t{1} << 30;

// One input: text (encoded with the model's tokenizer) or token ids.
struct Input {
  std::string text;
  std::vector<int32_t> tokens;
  bool is_text = true;
};

// Where an operation applies within a site. Empty lists mean all.
//   positions: of the input (negative counts from the end, -1 the last);
//              for the attention-weight sites, query positions.
//   heads:     for the per-head sites (attn.hook_q/k/v/rot_q/rot_k/z and the
//              attention weights); KV heads for k, v and rot_k.
//   neurons:   indices into the site's last dimension (d_model, d_head,
//              d_mlp; key positions for the attention weights).
struct Selector {
  std::vector<int> positions;
  std::vector<int> heads;
  std::vector<int> neurons;
};

struct CaptureSpec {
  std::string hook;  // a site name, or a pattern with '*'
  Selector where;
  bool norm = false;     // L2 norm over the last dimension
  bool mean = false;     // then the mean over the (selected) positions
  bool ungroup = false;  // hook_k, hook_v, hook_rot_k per query head (TransformerLens's ungroup_gqa)
};

enum class Op { kAdd, kSet, kScale, kZero, kMean, kPatch };
const char* OpName(Op op);

struct Intervention {
  std::string hook;  // a site name, or a pattern with '*'
  Op op = Op::kZero;
  std::vector<float> vector;   // add, set: the site's last dimension
  double scale = 1.0;          // add: the vector's multiple; scale: the factor
  std::vector<float> mean;     // mean: the mean to write (the last dimension, or the whole row)
  std::vector<int> mean_over;  // mean: inputs whose mean (over every position) the server computes
  int from = -1;               // patch: the input whose values are written
  Selector where;
  std::vector<int> inputs;  // the inputs it applies to; empty: all (a patch: all but `from`)
};

// A target token: text that encodes to exactly one token, or a token id.
struct Target {
  std::string text;
  int32_t token = -1;
  bool is_text = false;
};

struct LensSpec {
  int top_k = 5;
  std::vector<int> positions;  // empty: every position
};

struct ReturnSpec {
  int top_k = 0;  // next-token logprobs at the last position
  std::vector<Target> targets;
  std::optional<LensSpec> logit_lens;
};

struct GenerateSpec {
  int max_tokens = 16;
  double temperature = 0;
  std::optional<uint64_t> seed;
};

enum class Format { kJson, kSafetensors };

struct RunSpec {
  std::string model;
  std::vector<Input> inputs;
  bool single = true;       // "input" (results at the top level), not "inputs" (a list)
  std::optional<bool> bos;  // prepend BOS to text inputs; default: as the tokenizer says
  std::vector<CaptureSpec> captures;
  std::vector<Intervention> interventions;
  ReturnSpec ret;
  std::optional<GenerateSpec> generate;
  Format format = Format::kJson;
};

enum class Metric { kLogitDiff, kLogprob };

struct PatchSpec {
  std::string model;
  Input clean, corrupted;
  std::optional<bool> bos;
  std::vector<std::string> sites;  // patterns; each gives one matrix
  Metric metric = Metric::kLogitDiff;
  std::vector<Target> metric_targets;       // logit_diff: [a, b]; logprob: [t]
  std::vector<Intervention> interventions;  // on every run (no patch or mean_over)
};

struct DirectionsSpec {
  std::string model;
  std::string hook;  // exactly one site
  std::vector<Input> positive, negative;
  std::optional<bool> bos;
  bool last_position = false;  // each input's last position, not the mean over its positions
  bool normalize = false;      // a unit vector
};

}  // namespace aperture::research
