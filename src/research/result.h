// What research jobs produce, before it is written out as JSON or
// safetensors (result_format.h): tensors by site in TransformerLens's
// shapes, logprobs, the logit lens, generated tokens, patching matrices.
// Plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/sampling/sampler.h"

namespace aperture::research {

struct Tensor {
  std::string name;            // the site, e.g. "blocks.3.hook_resid_post"
  std::vector<int64_t> shape;  // row-major; [] is a scalar
  std::vector<float> data;     // float32; -inf where attention scores are masked
};

struct InputResult {
  std::vector<int32_t> tokens;
  std::vector<Tensor> captures;                    // in request order
  std::vector<engine::TokenLogprob> top_logprobs;  // at the last position, most likely first
  std::vector<float> target_logprobs;              // in the order of the targets
  // Logit lens: for each layer, each lens position, the top tokens of that
  // layer's hook_resid_post through ln_final and the unembedding.
  std::vector<int> lens_positions;
  std::vector<std::vector<std::vector<engine::TokenLogprob>>> lens;  // [layer][position][k]
  std::vector<int32_t> generated;
  bool generating = false;
};

struct RunResult {
  std::vector<InputResult> inputs;
};

// One matrix of a patching sweep: rows are the sites a pattern names (one
// per layer), columns the positions or the heads.
struct PatchMatrix {
  std::string pattern;
  std::vector<std::string> sites;
  bool per_head = false;
  std::vector<std::vector<double>> raw;  // the metric of each patched run
};

struct PatchResult {
  double clean = 0, corrupted = 0;  // the metric of the unpatched runs
  std::vector<PatchMatrix> matrices;
  int64_t patched_runs = 0;
  int64_t forward_tokens = 0;  // as run, counting a token through part of the layers as that fraction
};

// Log-softmax of logits at `token` (in double, a fixed order).
double LogSoftmaxAt(const float* logits, int vocab, int32_t token);
// The k most likely tokens (ties: lower id first) with their logprobs.
std::vector<engine::TokenLogprob> TopLogprobs(const float* logits, int vocab, int k);

}  // namespace aperture::research
