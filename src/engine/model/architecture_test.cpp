// Every architecture of architecture.h on generated models with
// grouped-query attention: the engine's logits against the float64
// reference (reference_test_util.h) for F32 and Q8_0 weights, repacked and
// not, greedy generation the same with 1 and 2 threads, and the files the
// engine refuses (unknown architectures, tensor types and settings, a
// tensor it would ignore, one it needs that is missing).
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <vector>

#include "engine/chat/chat_template.h"
#include "engine/gguf/gguf_writer.h"
#include "engine/model/llama_model.h"
#include "engine/model/reference_test_util.h"
#include "engine/model/runner.h"
#include "engine/model/test_model.h"
#include "engine/tokenizer/tokenizer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

std::string TempPath(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".gguf")).string();
}

// A small GQA model of `arch` whose architecture-specific parts all act
// within the test's 12 tokens: Gemma's windows are 4 keys, soft-caps low
// enough to bend the scores, Gemma 3 scales its global RoPE, Phi-3 rotates
// part of each head with LongRoPE factors, Qwen3 and Gemma use a head size
// other than dim / heads.
TestModelSpec SpecFor(const std::string& arch, GgmlType type) {
  TestModelSpec s{.arch = arch,
                  .layers = 2,
                  .dim = 128,
                  .heads = 4,
                  .kv_heads = 2,
                  .ffn = 256,
                  .vocab = 320,
                  .type = type,
                  .seed = 17,
                  .tied_output = arch != "qwen2" && arch != "phi3"};
  if (arch == "qwen3" || arch == "gemma2" || arch == "gemma3") s.head_dim = 64;  // heads * 64 = 256 != dim
  if (arch == "gemma2") {
    s.sliding_window = 4;
    s.attn_softcap = 2.f;
    s.final_softcap = 3.f;
  }
  if (arch == "gemma3") {
    s.layers = 6;  // five sliding layers, then a global one
    s.sliding_window = 4;
    s.rope_base = 1e6f;
    s.rope_scale = 8.f;
  }
  if (arch == "phi3") {
    s.rope_dim = 16;  // of a head of 32
    s.context_length = 128;
    s.original_context = 32;
  }
  return s;
}

// Max over positions of max |engine - reference| / rms(reference logits).
double RelativeError(const std::vector<std::vector<double>>& ref, Runner& runner) {
  double worst = 0;
  for (size_t t = 0; t < ref.size(); ++t) {
    std::span<const float> got = runner.Logits(0, static_cast<int>(t));
    double ss = 0, maxdiff = 0;
    for (size_t v = 0; v < ref[t].size(); ++v) {
      ss += ref[t][v] * ref[t][v];
      maxdiff = std::max(maxdiff, std::fabs(got[v] - ref[t][v]));
    }
    worst = std::max(worst, maxdiff / std::sqrt(ss / ref[t].size()));
  }
  return worst;
}

const std::vector<int32_t> kTokens = {2, 300, 17, 5, 260, 99, 3, 42, 310, 7, 150, 280};

struct Case {
  std::string arch;
  GgmlType type;
};

std::string CaseName(const ::testing::TestParamInfo<Case>& info) {
  return info.param.arch + "_" + GgmlTypeName(info.param.type);
}

class ArchitectureTest : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    spec_ = SpecFor(GetParam().arch, GetParam().type);
    path_ = TempPath("arch-" + CaseName({GetParam(), 0}));
    ASSERT_TRUE(WriteTestModel(spec_, path_).ok());
  }
  void TearDown() override { std::filesystem::remove(path_); }

  // Stated tolerance (max logit error relative to the logits' RMS): F32
  // weights compute in float32 throughout (measured under 1e-5); Q8_0
  // weights multiply 8-bit quantized activations, whose rounding adds up
  // over the layers like a random walk (Gemma 3 has six). Gemma's
  // post-norms put each sublayer's output back at unit scale, so its
  // rounding weighs more: measured 0.03 (llama, qwen2, qwen3, phi3), 0.076
  // (gemma2, 2 layers), 0.095 (gemma3, 6 layers).
  double Tolerance() const {
    if (GetParam().type == GgmlType::kF32) return 1e-4;
    const double base = spec_.arch == "gemma2" || spec_.arch == "gemma3" ? 0.1 : 0.05;
    return base * std::sqrt(std::max(1.0, spec_.layers / 2.0));
  }

  TestModelSpec spec_;
  std::string path_;
};

TEST_P(ArchitectureTest, LogitsMatchTheFloat64Reference) {
  auto file = GgufFile::Open(path_);
  ASSERT_TRUE(file.ok()) << file.status();
  for (int capacity : {64, 24}) {  // Phi-3: LongRoPE's long factors above its original context (32), short below
    const auto ref = testing::ReferenceLogits(**file, kTokens, capacity);
    for (bool repack : {true, false}) {
      auto model = LlamaModel::Load(path_, {.repack = repack});
      ASSERT_TRUE(model.ok()) << model.status();
      EXPECT_EQ((*model)->config().arch, GetParam().arch);
      Runner runner(**model, {.threads = 2, .max_batch_tokens = 5});
      Sequence seq((*model)->config(), capacity);
      ASSERT_TRUE(runner.Forward({{BatchEntry{&seq, kTokens, /*all_logits=*/true}}}).ok());
      const double err = RelativeError(ref, runner);
      EXPECT_LE(err, Tolerance()) << "repack=" << repack << " capacity=" << capacity;
      RecordProperty("rel_error" + std::string(repack ? "" : "_rows") + "_" + std::to_string(capacity),
                     std::to_string(err));
    }
  }
}

// Greedy ids from a prompt, decoded one token at a time.
std::vector<int32_t> Greedy(const LlamaModel& model, int threads, int n) {
  Runner runner(model, {.threads = threads});
  Sequence seq(model.config(), static_cast<int>(kTokens.size()) + n + 1);
  EXPECT_TRUE(runner.Forward({{BatchEntry{&seq, kTokens}}}).ok());
  std::vector<int32_t> out;
  for (int i = 0; i < n; ++i) {
    std::span<const float> logits = runner.Logits(0);
    const int32_t next = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    out.push_back(next);
    Sequence* s = &seq;
    EXPECT_TRUE(runner.Decode({&s, 1}, {&next, 1}).ok());
  }
  return out;
}

TEST_P(ArchitectureTest, GreedyGenerationIsTheSameWithOneAndTwoThreads) {
  auto model = LlamaModel::Load(path_);
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<int32_t> one = Greedy(**model, 1, 20);
  EXPECT_EQ(one, Greedy(**model, 2, 20));
  EXPECT_EQ(one, Greedy(**model, 1, 20));
}

// A batch of sequences decoding together gives each the logits it gets alone.
TEST_P(ArchitectureTest, BatchedDecodeMatchesOneSequenceBitForBit) {
  auto model = LlamaModel::Load(path_);
  ASSERT_TRUE(model.ok()) << model.status();
  const LlamaConfig& c = (*model)->config();
  Runner alone(**model, {.threads = 2});
  Runner batched(**model, {.threads = 2});
  Sequence a(c, 32), b(c, 32), solo(c, 32);
  const std::vector<int32_t> pa = {2, 40, 41, 42, 43, 44, 45}, pb = {2, 300, 301};
  ASSERT_TRUE(batched.Forward({{BatchEntry{&a, pa}, BatchEntry{&b, pb}}}).ok());
  ASSERT_TRUE(alone.Forward({{BatchEntry{&solo, pa}}}).ok());
  for (int step = 0; step < 4; ++step) {
    const std::vector<float> want(alone.Logits(0).begin(), alone.Logits(0).end());
    ASSERT_TRUE(std::equal(want.begin(), want.end(), batched.Logits(0).begin())) << "step " << step;
    const int32_t ta = static_cast<int32_t>(std::max_element(want.begin(), want.end()) - want.begin());
    const int32_t tb = 100 + step;
    Sequence* seqs[] = {&a, &b};
    const int32_t toks[] = {ta, tb};
    ASSERT_TRUE(batched.Decode(seqs, toks).ok());
    Sequence* s = &solo;
    ASSERT_TRUE(alone.Decode({&s, 1}, {&ta, 1}).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, ArchitectureTest,
                         ::testing::Values(Case{"llama", GgmlType::kF32}, Case{"llama", GgmlType::kQ8_0},
                                           Case{"qwen2", GgmlType::kF32}, Case{"qwen2", GgmlType::kQ8_0},
                                           Case{"qwen3", GgmlType::kF32}, Case{"qwen3", GgmlType::kQ8_0},
                                           Case{"phi3", GgmlType::kF32}, Case{"phi3", GgmlType::kQ8_0},
                                           Case{"gemma2", GgmlType::kF32}, Case{"gemma2", GgmlType::kQ8_0},
                                           Case{"gemma3", GgmlType::kF32}, Case{"gemma3", GgmlType::kQ8_0}),
                         CaseName);

// Every tensor type the kernels run, with every architecture: the weight
// types stay the kernels' business, so each family's pass works with each
// (dim 256 so the K-quants' 256-value super-blocks fit every matrix).
class ArchitectureTypesTest : public ::testing::TestWithParam<std::string> {};

TEST_P(ArchitectureTypesTest, EveryTensorTypeMatchesTheReference) {
  const std::string arch = GetParam();
  for (const char* type : {"f16", "bf16", "q4_0", "q4_1", "q2_K", "q3_K", "q4_K", "q5_K", "q6_K", "iq4_xs", "q4_k_m"}) {
    TestModelSpec spec = SpecFor(arch, GgmlType::kF32);
    spec.dim = 256;
    spec.ffn = 512;
    ASSERT_TRUE(ParseTestModelType(type, &spec).ok()) << type;
    const std::string path = TempPath("arch-type-" + arch + "-" + type);
    ASSERT_TRUE(WriteTestModel(spec, path).ok()) << arch << " " << type;
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok()) << file.status();
    const auto ref = testing::ReferenceLogits(**file, kTokens, 64);
    auto model = LlamaModel::Load(path);
    ASSERT_TRUE(model.ok()) << model.status();
    Runner runner(**model, {.threads = 2, .max_batch_tokens = 7});
    Sequence seq((*model)->config(), 64);
    ASSERT_TRUE(runner.Forward({{BatchEntry{&seq, kTokens, /*all_logits=*/true}}}).ok());
    // The stated tolerance of the type (reference_test_util.h); Gemma's
    // post-norms weigh quantized activations' rounding about twice as much
    // (see ArchitectureTest::Tolerance).
    double tolerance = testing::StatedTolerance(type, spec.layers);
    if ((arch == "gemma2" || arch == "gemma3") && tolerance > 1e-4) tolerance *= 2;
    const double err = RelativeError(ref, runner);
    EXPECT_LE(err, tolerance) << arch << " " << type;
    RecordProperty(std::string("rel_error_") + type, std::to_string(err));
    std::filesystem::remove(path);
  }
}

INSTANTIATE_TEST_SUITE_P(Architectures, ArchitectureTypesTest,
                         ::testing::Values("llama", "qwen2", "qwen3", "phi3", "gemma2", "gemma3"));

// The 27B shapes take their query scale from d_model / heads, as llama.cpp
// does; the reference computes it from Gemma's definition.
TEST(ArchitectureConfigTest, GemmaQueryScaleFollowsTheModelShape) {
  for (const auto& [arch, layers] : {std::pair<std::string, int>{"gemma2", 46}, {"gemma3", 62}}) {
    TestModelSpec s = SpecFor(arch, GgmlType::kF32);
    s.layers = layers;
    s.dim = 64;
    s.ffn = 64;
    const std::string path = TempPath("arch-27b-" + arch);
    ASSERT_TRUE(WriteTestModel(s, path).ok());
    auto model = LlamaModel::Load(path);
    ASSERT_TRUE(model.ok()) << model.status();
    EXPECT_FLOAT_EQ((*model)->config().attn_scale, 1.0f / std::sqrt(16.0f)) << arch;  // 64 / 4 heads, not 1/sqrt(64)
    auto file = GgufFile::Open(path);
    ASSERT_TRUE(file.ok());
    const std::vector<int32_t> tokens = {2, 300, 17, 5, 260, 99};
    const auto ref = testing::ReferenceLogits(**file, tokens);
    Runner runner(**model, {.threads = 2});
    Sequence seq((*model)->config(), 16);
    ASSERT_TRUE(runner.Forward({{BatchEntry{&seq, tokens, true}}}).ok());
    EXPECT_LE(RelativeError(ref, runner), 1e-4) << arch;
    std::filesystem::remove(path);
  }
}

TEST(ArchitectureConfigTest, SlidingLayersAndRopeTablesFollowTheFamily) {
  const std::string path = TempPath("arch-gemma3-config");
  ASSERT_TRUE(WriteTestModel(SpecFor("gemma3", GgmlType::kF32), path).ok());
  auto model = LlamaModel::Load(path);
  ASSERT_TRUE(model.ok()) << model.status();
  const LlamaConfig& c = (*model)->config();
  for (int l = 0; l < 6; ++l) EXPECT_EQ(c.window(l), l == 5 ? 0 : 4) << l;
  ASSERT_EQ((*model)->rope_tables().size(), 2u);
  EXPECT_EQ((*model)->rope_table(0), 1);
  EXPECT_EQ((*model)->rope_table(5), 0);
  // Global layers: base 1e6 scaled by 8; sliding layers: base 10000.
  EXPECT_DOUBLE_EQ((*model)->rope_tables()[0].inv_freq[1], std::pow(1e6, -2.0 / 64) / 8);
  EXPECT_DOUBLE_EQ((*model)->rope_tables()[1].inv_freq[1], std::pow(1e4, -2.0 / 64));
  EXPECT_FLOAT_EQ(c.embedding_scale, std::sqrt(128.f));
  EXPECT_EQ(c.site_features(), kSitePostNorms | kSiteQkNorms);
  std::filesystem::remove(path);
}

// ---- Each family's tokenizer settings and chat template, as its files carry them. ----

struct FamilyVocab {
  std::unique_ptr<GgufFile> file;
  std::unique_ptr<Tokenizer> tokenizer;
  int32_t Id(const std::string& text) const { return tokenizer->vocab().Find(text); }
};

FamilyVocab LoadVocab(const std::string& arch) {
  TestModelSpec spec = SpecFor(arch, GgmlType::kF32);
  spec.vocab = 1000;
  auto w = BuildTestModel(spec);
  EXPECT_TRUE(w.ok()) << w.status();
  auto bytes = w->Serialize();
  EXPECT_TRUE(bytes.ok());
  FamilyVocab v;
  v.file = *GgufFile::FromBuffer(*bytes);
  auto tok = Tokenizer::FromGguf(*v.file);
  EXPECT_TRUE(tok.ok()) << tok.status();
  v.tokenizer = *std::move(tok);
  return v;
}

TEST(FamilyTokenizerTest, GemmaHasNoSpacePrefixAndAddsBos) {
  const FamilyVocab v = LoadVocab("gemma3");
  // No leading U+2581: "the" is spelled from pieces ("t" and "he"; the
  // vocabulary has "\u2581the" only), " cat" takes the word piece.
  EXPECT_EQ(v.tokenizer->Encode("the cat", true, false), (std::vector<int32_t>{2, v.Id("t"), v.Id("he"),
                                                                               v.Id("\xE2\x96\x81"
                                                                                    "cat")}));
  EXPECT_EQ(v.tokenizer->Decode(v.tokenizer->Encode("the cat", true, false)), "the cat");
  const std::vector<int32_t> turn = v.tokenizer->Encode("<start_of_turn>user", false, true);
  EXPECT_EQ(turn.front(), v.Id("<start_of_turn>"));
  EXPECT_TRUE(v.tokenizer->IsEndOfGeneration(v.Id("<end_of_turn>")));
  EXPECT_EQ(ChatTemplate::ForModel(*v.file, *v.tokenizer).family(), ChatFamily::kGemma);
}

TEST(FamilyTokenizerTest, Phi3KeepsTheSpacePrefixWithoutBosAndEndsTurnsAtEnd) {
  const FamilyVocab v = LoadVocab("phi3");
  EXPECT_EQ(v.tokenizer->Encode("the cat", true, false), (std::vector<int32_t>{v.Id("\xE2\x96\x81"
                                                                                    "the"),
                                                                               v.Id("\xE2\x96\x81"
                                                                                    "cat")}));
  EXPECT_EQ(v.Id("<|system|>"), 999);  // the chat tokens are the last ids, as in Phi-3's vocabulary
  EXPECT_TRUE(v.tokenizer->IsEndOfGeneration(v.Id("<|end|>")));
  EXPECT_TRUE(v.tokenizer->IsEndOfGeneration(v.Id("<|endoftext|>")));
  EXPECT_EQ(ChatTemplate::ForModel(*v.file, *v.tokenizer).family(), ChatFamily::kPhi3);
}

TEST(FamilyTokenizerTest, QwenIsByteLevelBpeWithChatMl) {
  const FamilyVocab v = LoadVocab("qwen3");
  EXPECT_EQ(v.tokenizer->kind(), TokenizerKind::kBpe);
  EXPECT_EQ(v.tokenizer->Encode("the cat", true, false),
            (std::vector<int32_t>{v.Id("the"), v.Id("\xC4\xA0"
                                                    "cat")}));  // "Ġcat", no BOS
  EXPECT_EQ(v.tokenizer->Decode(v.tokenizer->Encode("the cat\n", true, false)), "the cat\n");
  EXPECT_TRUE(v.tokenizer->IsEndOfGeneration(v.Id("<|im_end|>")));
  EXPECT_EQ(ChatTemplate::ForModel(*v.file, *v.tokenizer).family(), ChatFamily::kChatMl);
}

// ---- Refusals: every file the engine would run wrongly is refused with the reason. ----

// A generated llama file with `edit` applied to its writer.
absl::Status LoadEdited(const std::string& name, const std::function<void(GgufWriter&)>& edit,
                        const TestModelSpec& spec = SpecFor("llama", GgmlType::kF32)) {
  auto w = BuildTestModel(spec);
  if (!w.ok()) return w.status();
  edit(*w);
  const std::string path = TempPath("refuse-" + name);
  if (absl::Status s = w->WriteFile(path); !s.ok()) return s;
  auto model = LlamaModel::Load(path);
  std::filesystem::remove(path);
  return model.status();
}

TEST(ArchitectureRefusalTest, UnknownArchitectureIsRefusedByName) {
  const absl::Status s = LoadEdited("arch", [](GgufWriter& w) { w.SetString("general.architecture", "mamba"); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("'mamba' is not supported"));
  EXPECT_THAT(s.message(), ::testing::HasSubstr("gemma3"));
}

TEST(ArchitectureRefusalTest, UnsupportedTensorTypeIsRefusedByName) {
  // A matrix of a type the kernels do not compute with (Q5_0) in place of attn_q.
  const absl::Status s = LoadEdited("type", [](GgufWriter& w) {
    ASSERT_TRUE(w.RemoveTensor("blk.0.attn_q.weight").ok());
    const int64_t bytes = 128 * 128 / 32 * 22;  // q5_0: 22 bytes per 32 values
    ASSERT_TRUE(w.AddTensor("blk.0.attn_q.weight", {128, 128}, GgmlType::kQ5_0, std::vector<uint8_t>(bytes)).ok());
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("blk.0.attn_q.weight"));
  EXPECT_THAT(s.message(), ::testing::HasSubstr("q5_0"));
}

TEST(ArchitectureRefusalTest, TensorTheForwardPassWouldIgnoreIsRefused) {
  const absl::Status s = LoadEdited("extra", [](GgufWriter& w) {
    ASSERT_TRUE(w.AddTensor("blk.1.attn_output.bias", {128}, GgmlType::kF32, std::vector<uint8_t>(128 * 4)).ok());
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("blk.1.attn_output.bias is not part of the llama forward pass"));
}

TEST(ArchitectureRefusalTest, MissingTensorIsRefusedByName) {
  const absl::Status s = LoadEdited(
      "missing", [](GgufWriter& w) { ASSERT_TRUE(w.RemoveTensor("blk.1.post_ffw_norm.weight").ok()); },
      SpecFor("gemma2", GgmlType::kF32));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("blk.1.post_ffw_norm.weight is missing"));
}

TEST(ArchitectureRefusalTest, UnsupportedSettingsAreRefusedByKey) {
  auto refused = [](const std::string& name, const std::function<void(GgufWriter&)>& edit, const TestModelSpec& spec) {
    const absl::Status s = LoadEdited(name, edit, spec);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    return std::string(s.message());
  };
  EXPECT_THAT(refused(
                  "yarn", [](GgufWriter& w) { w.SetString("qwen2.rope.scaling.type", "yarn"); },
                  SpecFor("qwen2", GgmlType::kF32)),
              ::testing::HasSubstr("qwen2.rope.scaling.type 'yarn' is not supported"));
  EXPECT_THAT(refused(
                  "vlen", [](GgufWriter& w) { w.SetUint32("gemma3.attention.value_length", 32); },
                  SpecFor("gemma3", GgmlType::kF32)),
              ::testing::HasSubstr("gemma3.attention.value_length 32 differs from key_length 64"));
  EXPECT_THAT(refused(
                  "attn-factor", [](GgufWriter& w) { w.SetFloat32("llama.rope.scaling.attn_factor", 1.2f); },
                  SpecFor("llama", GgmlType::kF32)),
              ::testing::HasSubstr("llama.rope.scaling.attn_factor is not supported"));
}

// A hook at a site of a feature the architecture lacks is refused, not skipped.
TEST(ArchitectureRefusalTest, HooksAtSitesTheArchitectureLacksAreRefused) {
  const std::string path = TempPath("arch-hooks");
  ASSERT_TRUE(WriteTestModel(SpecFor("qwen2", GgmlType::kF32), path).ok());
  auto model = LlamaModel::Load(path);
  ASSERT_TRUE(model.ok());
  const LlamaConfig& c = (*model)->config();
  Hooks named;
  const absl::Status add = named.Add(
      "blocks.0.ln1_post.hook_normalized", c.n_layers, [](const ActivationView&) {}, c.site_features());
  EXPECT_THAT(add.message(), ::testing::HasSubstr("post-norms"));
  Hooks direct;
  direct.Add(HookPoint::kAttnQNormScale, 1, [](const ActivationView&) {});
  Runner runner(**model, {.threads = 1});
  Sequence seq(c, 8);
  const absl::Status s = runner.Forward({{BatchEntry{&seq, std::span<const int32_t>(kTokens).first(3)}}}, &direct);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), ::testing::HasSubstr("blocks.1.attn.q_norm.hook_scale"));
  EXPECT_EQ(seq.position(), 0);
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace aperture::engine
