#include "server/engine_commands.h"

#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/json.h"
#include "engine/model/benchmark.h"
#include "engine/model/llama_model.h"
#include "engine/model/runner.h"
#include "engine/model/test_model.h"
#include "engine/sampling/sampler.h"
#include "engine/threading/thread_pool.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"
#include "fmt/format.h"
#include "nlohmann/json.hpp"

namespace aperture {
namespace {

using engine::GgmlType;

// Ends the command with exit status 1 after printing the error.
[[noreturn]] void Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  throw CLI::RuntimeError(1);
}

template <typename T>
T OrFail(absl::StatusOr<T> v) {
  if (!v.ok()) Fail(v.status());
  return *std::move(v);
}

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int max_tokens = 128;
  float temperature = 0.8f;
  float top_p = 0.95f;
  uint64_t seed = 0;
  int threads = 0;
  bool json = false;
};

void RunGenerate(const GenerateArgs& a) {
  auto model = OrFail(engine::LlamaModel::Load(a.model));
  auto tokenizer = OrFail(engine::Tokenizer::FromGguf(model->gguf()));
  std::vector<int32_t> prompt = tokenizer->Encode(a.prompt, /*add_special=*/true, /*parse_special=*/false);
  if (prompt.empty()) Fail(absl::InvalidArgumentError("the prompt encodes to no tokens"));
  engine::SamplingParams params;
  params.temperature = a.temperature;
  params.top_p = a.top_p;
  params.seed = a.seed;
  params.top_logprobs = a.json ? 5 : 0;
  auto sampler = OrFail(engine::Sampler::Create(params, model->config().vocab_size));
  engine::Runner runner(*model, {.threads = a.threads});
  const int capacity = static_cast<int>(prompt.size()) + std::max(a.max_tokens, 0) + 1;
  engine::Sequence seq(model->config(), capacity);
  if (absl::Status s = runner.Forward({{engine::BatchEntry{&seq, prompt}}}); !s.ok()) Fail(s);

  std::vector<int32_t> history = prompt;
  engine::IncrementalDecoder stream(*tokenizer, {.strip_leading_space = false});
  nlohmann::json tokens_json = nlohmann::json::array();
  std::string text;
  if (!a.json) {
    std::fputs(a.prompt.c_str(), stdout);
    std::fflush(stdout);
  }
  for (int i = 0; i < a.max_tokens; ++i) {
    engine::SampleResult r = OrFail(sampler.Sample(runner.Logits(0), history));
    if (tokenizer->IsEndOfGeneration(r.token)) break;
    history.push_back(r.token);
    const std::string piece = stream.Push(r.token);
    text += piece;
    if (a.json) {
      nlohmann::json top = nlohmann::json::array();
      for (const auto& alt : r.top) {
        top.push_back({{"id", alt.token}, {"token", tokenizer->TokenToPiece(alt.token)}, {"logprob", alt.logprob}});
      }
      tokens_json.push_back({{"id", r.token},
                             {"token", tokenizer->TokenToPiece(r.token)},
                             {"logprob", r.logprob},
                             {"top_logprobs", top}});
    } else {
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
    }
    engine::Sequence* s = &seq;
    if (absl::Status st = runner.Decode({&s, 1}, {&r.token, 1}); !st.ok()) Fail(st);
  }
  const std::string tail = stream.Flush();
  text += tail;
  if (a.json) {
    nlohmann::json out = {{"prompt", a.prompt}, {"prompt_ids", prompt}, {"text", text}, {"tokens", tokens_json}};
    std::cout << DumpJson(out) << "\n";
  } else {
    std::fputs(tail.c_str(), stdout);
    std::fputs("\n", stdout);
  }
}

void RunTokenize(const std::string& model_path, bool no_bos, const std::string& text) {
  // Only the vocabulary is needed: read the metadata without loading weights.
  auto file = OrFail(engine::GgufFile::Open(model_path));
  auto tokenizer = OrFail(engine::Tokenizer::FromGguf(*file));
  std::vector<int32_t> ids = tokenizer->Encode(text, /*add_special=*/!no_bos, /*parse_special=*/false);
  std::string line;
  for (size_t i = 0; i < ids.size(); ++i) line += (i ? " " : "") + std::to_string(ids[i]);
  std::cout << line << "\n";
}

void RunBench(const std::string& model_path, int threads) {
  auto model = OrFail(engine::LlamaModel::Load(model_path));
  engine::Runner runner(*model, {.threads = threads});
  const engine::BenchResult r = engine::RunBenchmark(runner, {.batch_sequences = 0});
  std::cout << fmt::format("model {}\n", model->Describe());
  std::cout << fmt::format("threads {}\n", runner.pool().size());
  std::cout << fmt::format("pp128 {:.1f}\n", r.pp_tokens_per_s);
  std::cout << fmt::format("tg64 {:.1f}\n", r.tg_tokens_per_s);
  std::cout << fmt::format("peak_rss_mib {:.1f}\n", engine::PeakRssBytes() / 1048576.0);
}

struct MakeTestArgs {
  std::string out;
  engine::TestModelSpec spec;
  std::string type = "f32";
  bool untied = false;
};

void RunMakeTest(MakeTestArgs& a) {
  if (absl::Status s = engine::ParseTestModelType(a.type, &a.spec); !s.ok()) Fail(s);
  a.spec.tied_output = !a.untied;
  if (absl::Status s = engine::WriteTestModel(a.spec, a.out); !s.ok()) Fail(s);
  std::cout << fmt::format("wrote {} (random weights: its output is random text)\n", a.out);
}

}  // namespace

void AddEngineCommands(CLI::App& app) {
  auto gen = std::make_shared<GenerateArgs>();
  CLI::App* g = app.add_subcommand("generate", "Generate text from a GGUF model");
  g->add_option("--model", gen->model, "GGUF model file")->required();
  g->add_option("--prompt", gen->prompt, "Prompt text")->required();
  g->add_option("--max-tokens", gen->max_tokens, "Most tokens to generate")->check(CLI::NonNegativeNumber);
  g->add_option("--temperature", gen->temperature, "Sampling temperature (0: greedy)");
  g->add_option("--top-p", gen->top_p, "Nucleus sampling mass");
  g->add_option("--seed", gen->seed, "Random seed");
  g->add_option("--threads", gen->threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
  g->add_flag("--json", gen->json, "Print ids, tokens and logprobs as JSON");
  g->callback([gen] { RunGenerate(*gen); });

  auto tok_model = std::make_shared<std::string>();
  auto tok_text = std::make_shared<std::string>();
  auto no_bos = std::make_shared<bool>(false);
  CLI::App* t = app.add_subcommand("tokenize", "Print the token ids of a text");
  t->add_option("--model", *tok_model, "GGUF model file")->required();
  t->add_flag("--no-bos", *no_bos, "Do not add the beginning-of-sequence token");
  t->add_option("text", *tok_text, "Text to tokenize")->required();
  t->callback([=] { RunTokenize(*tok_model, *no_bos, *tok_text); });

  auto bench_model = std::make_shared<std::string>();
  auto bench_threads = std::make_shared<int>(0);
  CLI::App* b = app.add_subcommand("bench", "Measure prompt processing and generation speed");
  b->add_option("--model", *bench_model, "GGUF model file")->required();
  b->add_option("--threads", *bench_threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
  b->callback([=] { RunBench(*bench_model, *bench_threads); });

  auto mk = std::make_shared<MakeTestArgs>();
  // main() may already have a `model` command (add, list, ...): join it.
  CLI::App* model = nullptr;
  for (CLI::App* sub : app.get_subcommands({})) {
    if (sub->get_name() == "model") model = sub;
  }
  if (!model) {
    model = app.add_subcommand("model", "Model utilities");
    model->require_subcommand(1);
  }
  CLI::App* m = model->add_subcommand(
      "make-test", "Write a GGUF of any supported architecture with seeded random weights (llama.cpp loads it too)");
  m->add_option("--out", mk->out, "Output path")->required();
  m->add_option("--arch", mk->spec.arch, "Architecture: llama, qwen2, qwen3, phi3, gemma2, gemma3");
  m->add_option("--layers", mk->spec.layers, "Layers");
  m->add_option("--dim", mk->spec.dim, "Embedding width");
  m->add_option("--heads", mk->spec.heads, "Attention heads");
  m->add_option("--kv-heads", mk->spec.kv_heads, "Key/value heads");
  m->add_option("--ffn", mk->spec.ffn, "Feed-forward width");
  m->add_option("--vocab", mk->spec.vocab, "Vocabulary size (>= 300)");
  m->add_option("--type", mk->type,
                "Tensor type: f32, f16, bf16, q8_0, q4_0, q4_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_xs, or a "
                "llama.cpp-style mix: q4_k_m, q5_k_m");
  m->add_option("--seed", mk->spec.seed, "Random seed");
  m->add_option("--context", mk->spec.context_length, "Context length to record");
  m->add_flag("--untied", mk->untied, "Write a separate output matrix");
  m->add_option("--rope-base", mk->spec.rope_base, "RoPE base (rope.freq_base)");
  m->add_option("--head-dim", mk->spec.head_dim, "Head size other than dim / heads (qwen3, gemma2, gemma3)");
  m->add_option("--rope-dim", mk->spec.rope_dim, "Rotated dimensions of each head (phi3: partial rotary)");
  m->add_option("--sliding-window", mk->spec.sliding_window, "Sliding window (gemma2, gemma3; phi3 records it)");
  m->add_option("--attn-softcap", mk->spec.attn_softcap, "Attention logit soft-cap (gemma2)");
  m->add_option("--final-softcap", mk->spec.final_softcap, "Final logit soft-cap (gemma2)");
  m->add_option("--rope-scale", mk->spec.rope_scale, "Linear RoPE scaling of the global layers (gemma3)");
  m->add_option("--original-context", mk->spec.original_context,
                "phi3: write LongRoPE factors for --context over this trained context");
  m->callback([mk] { RunMakeTest(*mk); });
}

}  // namespace aperture
