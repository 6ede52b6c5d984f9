// libFuzzer target: arbitrary bytes as a model file. Loading must return an
// error or a model of a supported architecture whose every tensor has the
// shape and type its forward pass needs; a loaded model then runs a short
// forward pass (the architecture's every part: biases, Q/K norms, windows,
// soft-caps, LongRoPE tables) without reading outside its buffers.
//
// Seeds: with APERTURE_FUZZ_WRITE_SEEDS=DIR the target first writes a small
// generated model of every architecture into DIR (fuzz/run.sh does this for
// the run's corpus), so the fuzzer starts from files each family's loader
// accepts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/model/architecture.h"
#include "engine/model/llama_model.h"
#include "engine/model/runner.h"
#include "engine/model/test_model.h"

namespace {

using namespace aperture::engine;

void WriteSeeds(const std::string& dir) {
  for (const Architecture& a : Architectures()) {
    TestModelSpec s{.arch = std::string(a.name),
                    .layers = a.name == "gemma3" ? 6 : 1,
                    .dim = 32,
                    .heads = 2,
                    .kv_heads = 1,
                    .ffn = 32,
                    .vocab = 300,
                    .type = GgmlType::kQ8_0,
                    .seed = 1,
                    .tied_output = true,
                    .context_length = 16,
                    .sliding_window = 2};
    if (a.name == "phi3") s.original_context = 4;
    if (!WriteTestModel(s, dir + "/seed-" + s.arch + ".gguf").ok()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("APERTURE_FUZZ_WRITE_SEEDS")) WriteSeeds(dir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = GgufFile::FromBuffer(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!file.ok()) return 0;
  auto model = LlamaModel::FromGguf(*std::move(file), /*file_is_mapped=*/false);
  if (!model.ok()) return 0;
  const LlamaConfig& c = (*model)->config();
  if (c.n_layers <= 0 || c.vocab_size <= 0 || c.q_dim() <= 0 || c.kv_dim() <= 0) __builtin_trap();
  // Keep each input quick: the work of a pass is about its weights' size.
  if (static_cast<int64_t>(c.n_layers) * c.dim * (c.q_dim() + c.ffn_dim) > (int64_t{1} << 26)) return 0;
  Runner runner(**model, {.threads = 1, .max_batch_tokens = 2});
  Sequence seq(c, 4);
  const std::vector<int32_t> tokens = {0, c.vocab_size - 1, c.vocab_size / 2};
  if (!runner.Forward({{BatchEntry{&seq, tokens, /*all_logits=*/true}}}).ok()) __builtin_trap();
  volatile float sink = runner.Logits(0, 2)[c.vocab_size - 1];
  (void)sink;
  return 0;
}
