// The engine's speed beside llama.cpp's on the same machine kind (issue 17):
// the generated 110M Llama (dim 768, 12 layers, 12 heads, ffn 2048, vocab
// 32000, tied output) in every type people download, with 2 threads: pp128
// and tg64 tokens/s beside llama.cpp's figures and the engine's figures
// before issue 17, the fraction of the memory-bandwidth ceiling tg64
// reaches, 4 sequences decoded together vs 1, and peak RSS against the
// floor (file + KV cache + 64 MiB); then the floors, met or not.
//
//   engine_bench [--models DIR] [--threads 2] [--types f32,...,q4_k_m] [--rounds N]
//
// The machine is shared: each model is measured once per round, in turn
// with the others, in a child process (re-running this binary with --one,
// so each peak RSS is that model's alone); figures are medians over rounds.
#include <immintrin.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "engine/gguf/gguf_reader.h"
#include "engine/kernels/aligned_buffer.h"
#include "engine/kernels/cpu_features.h"
#include "engine/model/benchmark.h"
#include "engine/model/llama_model.h"
#include "engine/model/runner.h"
#include "engine/model/test_model.h"
#include "fmt/format.h"

namespace {

using namespace aperture::engine;

struct Figures {
  double pp = 0, tg = 0;
};

// llama.cpp on this machine kind, 2 threads, `llama-bench -p 128 -n 64`
// (issue 17), and the engine's figures in the same table before issue 17.
const std::map<std::string, Figures> kLlamaCpp = {{"q4_K", {549, 235}}, {"q5_K", {438, 194}},  {"q6_K", {496, 196}},
                                                  {"f16", {866, 145}},  {"bf16", {1099, 153}}, {"q4_0", {1015, 376}},
                                                  {"q8_0", {924, 179}}, {"f32", {713, 89}}};
const std::map<std::string, Figures> kBefore = {{"q4_K", {381, 27}},   {"q5_K", {366, 19}}, {"q6_K", {354, 16}},
                                                {"f16", {359, 17}},    {"bf16", {379, 28}}, {"q4_0", {2360, 475}},
                                                {"q8_0", {2326, 304}}, {"f32", {1069, 116}}};

// The floors: tg64 >= 1.2x and pp128 >= 1.0x llama.cpp for these.
bool HasSpeedFloor(const std::string& type) {
  return type == "q4_K" || type == "q5_K" || type == "q6_K" || type == "f16" || type == "bf16";
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t end = s.find(',', start);
    if (end == std::string::npos) end = s.size();
    if (end > start) out.push_back(s.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

std::string LoadAverage() {
  std::ifstream f("/proc/loadavg");
  std::string a, b, c;
  f >> a >> b >> c;
  return a + " " + b + " " + c;
}

// Sums a buffer with 256-bit loads and independent accumulators, so the
// loop is limited by memory, not by the adds.
__attribute__((target("avx2"))) uint64_t SumAvx2(const unsigned char* p, size_t n) {
  __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
  for (size_t i = 0; i + 128 <= n; i += 128) {
    a = _mm256_add_epi64(a, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i)));
    b = _mm256_add_epi64(b, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    c = _mm256_add_epi64(c, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    d = _mm256_add_epi64(d, _mm256_load_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  alignas(32) uint64_t out[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d)));
  return out[0] + out[1] + out[2] + out[3];
}

uint64_t SumScalar(const unsigned char* p, size_t n) {
  const uint64_t* q = reinterpret_cast<const uint64_t*>(p);
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (size_t i = 0; i + 4 <= n / 8; i += 4) {
    a += q[i];
    b += q[i + 1];
    c += q[i + 2];
    d += q[i + 3];
  }
  return a + b + c + d;
}

// Read bandwidth with `threads` threads over a 1 GiB buffer, GB/s (best of 3).
double MeasureBandwidth(int threads) {
  const size_t bytes = size_t{1} << 30;
  AlignedBuffer buf(bytes);
  for (size_t i = 0; i < bytes; i += 4096) buf.data()[i] = static_cast<unsigned char>(i);
  double best = 0;
  for (int rep = 0; rep < 3; ++rep) {
    std::vector<std::thread> ts;
    std::vector<uint64_t> sums(threads);
    const auto t0 = std::chrono::steady_clock::now();
    for (int t = 0; t < threads; ++t) {
      ts.emplace_back([&, t] {
        const unsigned char* p = buf.data() + bytes / threads * t;
        const size_t n = bytes / threads;
        sums[t] = DetectIsa() == Isa::kScalar ? SumScalar(p, n) : SumAvx2(p, n);
      });
    }
    for (auto& t : ts) t.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, bytes / s / 1e9);
  }
  return best;
}

// llama.cpp's figure for a mix, estimated from its figures for the mix's
// types: a token reads each type's share of the weights at llama.cpp's rate
// for that type, so 1 / speed = sum over types of share / speed(type).
// Shares are of the parameters of the matrices a token reads.
Figures EstimateLlamaCpp(const std::string& path) {
  auto file = GgufFile::Open(path);
  if (!file.ok()) return {};
  const bool tied = (*file)->FindTensor("output.weight") == nullptr;
  std::map<std::string, double> params;
  double total = 0;
  for (const GgufTensor& t : (*file)->tensors()) {
    if (t.dims.size() != 2 || (!tied && t.name == "token_embd.weight")) continue;
    params[GgmlTypeName(t.type)] += static_cast<double>(t.n_elements);
    total += static_cast<double>(t.n_elements);
  }
  double pp_time = 0, tg_time = 0;
  for (const auto& [type, n] : params) {
    auto it = kLlamaCpp.find(type);
    if (it == kLlamaCpp.end()) return {};
    pp_time += n / total / it->second.pp;
    tg_time += n / total / it->second.tg;
  }
  return {1 / pp_time, 1 / tg_time};
}

struct Run {
  double pp, tg, batch;
  size_t rss, file, kv, wbytes;
};

// Child: one model, one thread count, one timed repetition after a warm-up.
int RunOne(const std::string& path, int threads) {
  auto model = LlamaModel::Load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  Runner runner(**model, {.threads = threads});
  BenchOptions o;
  o.repetitions = 1;
  const BenchResult r = RunBenchmark(runner, o);
  // The benchmark's largest resident cache: 4 sequences of 129 positions.
  const Sequence probe((*model)->config(), std::max(o.pp_tokens, o.tg_tokens) + 1);
  std::printf("%f %f %f %zu %zu %zu %zu\n", r.pp_tokens_per_s, r.tg_tokens_per_s, r.batch_tokens_per_s, PeakRssBytes(),
              static_cast<size_t>(std::filesystem::file_size(path)), probe.bytes() * 4,
              (*model)->weight_bytes_per_token());
  return 0;
}

bool RunChild(const char* self, const std::string& path, const std::string& threads, Run* out) {
  const std::string cmd = fmt::format("'{}' --one '{}' {}", self, path, threads);
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return false;
  const int n = std::fscanf(p, "%lf %lf %lf %zu %zu %zu %zu", &out->pp, &out->tg, &out->batch, &out->rss, &out->file,
                            &out->kv, &out->wbytes);
  return pclose(p) == 0 && n == 7;
}

std::string Ratio(double v, double ref) { return ref > 0 ? fmt::format("{:.2f}x", v / ref) : "-"; }
std::string Ref(double ref) { return ref > 0 ? fmt::format("{:.0f}", ref) : "-"; }

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/aperture-bench-models";
  std::string threads_arg = "2", types_arg = "f32,f16,bf16,q8_0,q4_0,q4_K,q5_K,q6_K,q4_k_m";
  int rounds = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--one" && i + 2 < argc) return RunOne(argv[i + 1], std::atoi(argv[i + 2]));
    if (a == "--models" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--threads" && i + 1 < argc)
      threads_arg = argv[++i];
    else if (a == "--types" && i + 1 < argc)
      types_arg = argv[++i];
    else if ((a == "--rounds" || a == "--reps") && i + 1 < argc)
      rounds = std::max(1, std::atoi(argv[++i]));
    else {
      std::fprintf(stderr, "usage: %s [--models DIR] [--threads 1,2] [--types f32,q4_K,q4_k_m,...] [--rounds N]\n",
                   argv[0]);
      return 2;
    }
  }
  std::filesystem::create_directories(dir);
  const std::vector<std::string> types = Split(types_arg), thread_counts = Split(threads_arg);
  std::vector<std::string> paths;
  for (const std::string& type : types) {
    TestModelSpec spec{.layers = 12, .dim = 768, .heads = 12, .kv_heads = 12, .ffn = 2048, .vocab = 32000, .seed = 1};
    if (absl::Status s = ParseTestModelType(type, &spec); !s.ok()) {
      std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
      return 2;
    }
    const std::string path = fmt::format("{}/llama110m-{}.gguf", dir, type);
    if (!std::filesystem::exists(path)) {
      std::printf("generating %s\n", path.c_str());
      std::fflush(stdout);
      if (absl::Status s = WriteTestModel(spec, path); !s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    paths.push_back(path);
  }

  std::printf(
      "engine benchmark: generated 110M Llama (dim 768, 12 layers, 12 heads, ffn 2048, vocab 32000, tied "
      "output); ISA %s; medians of %d rounds, each model once per round in turn\n",
      IsaName(DetectIsa()), rounds);
  std::printf("load average at start: %s\n", LoadAverage().c_str());
  const int max_threads = std::atoi(thread_counts.back().c_str());
  const double bw = MeasureBandwidth(std::max(1, max_threads));
  std::printf("measured read bandwidth (%d threads): %.1f GB/s\n", max_threads, bw);

  std::map<std::pair<size_t, size_t>, std::vector<Run>> runs;
  for (int round = 0; round < rounds; ++round) {
    for (size_t ti = 0; ti < types.size(); ++ti) {
      for (size_t hi = 0; hi < thread_counts.size(); ++hi) {
        Run r{};
        if (RunChild(argv[0], paths[ti], thread_counts[hi], &r)) runs[{ti, hi}].push_back(r);
      }
    }
  }
  std::printf("load average at end: %s\n\n", LoadAverage().c_str());

  std::printf("%-6s %3s | %7s %9s %6s %7s | %6s %9s %6s %6s | %7s %4s | %7s %5s | %7s %7s %3s\n", "type", "thr",
              "pp128", "llama.cpp", "ratio", "before", "tg64", "llama.cpp", "ratio", "before", "ceiling", "frac",
              "4seq", "x1", "peakRSS", "floor", "ok");
  std::vector<std::string> floors;
  std::map<std::string, Figures> medians;  // 2 threads
  for (size_t ti = 0; ti < types.size(); ++ti) {
    const std::string& type = types[ti];
    Figures llama = kLlamaCpp.count(type) ? kLlamaCpp.at(type) : EstimateLlamaCpp(paths[ti]);
    const bool estimated = !kLlamaCpp.count(type) && llama.tg > 0;
    const Figures before = kBefore.count(type) ? kBefore.at(type) : Figures{};
    for (size_t hi = 0; hi < thread_counts.size(); ++hi) {
      const auto it = runs.find({ti, hi});
      if (it == runs.end()) {
        std::printf("%-6s %3s | failed\n", type.c_str(), thread_counts[hi].c_str());
        continue;
      }
      std::vector<double> pp, tg, b4, rss;
      for (const Run& r : it->second) {
        pp.push_back(r.pp);
        tg.push_back(r.tg);
        b4.push_back(r.batch);
        rss.push_back(static_cast<double>(r.rss));
      }
      const Run& any = it->second.front();
      const double mpp = Median(pp), mtg = Median(tg), mb4 = Median(b4);
      const double peak = *std::max_element(rss.begin(), rss.end());
      const double floor = any.file + any.kv + 64.0 * 1048576;
      const double ceiling = bw * 1e9 / any.wbytes;
      const bool two = thread_counts[hi] == "2";
      std::printf(
          "%-6s %3s | %7.0f %9s %6s %7s | %6.1f %9s %6s %6s | %7.0f %3.0f%% | %7.0f %4.2fx | %5.0fMiB %5.0fMiB %3s\n",
          type.c_str(), thread_counts[hi].c_str(), mpp, two ? (Ref(llama.pp) + (estimated ? "*" : "")).c_str() : "-",
          two ? Ratio(mpp, llama.pp).c_str() : "-", two ? Ref(before.pp).c_str() : "-", mtg,
          two ? (Ref(llama.tg) + (estimated ? "*" : "")).c_str() : "-", two ? Ratio(mtg, llama.tg).c_str() : "-",
          two ? Ref(before.tg).c_str() : "-", ceiling, 100 * mtg / ceiling, mb4, mtg > 0 ? mb4 / mtg : 0,
          peak / 1048576.0, floor / 1048576.0, peak <= floor ? "yes" : "NO");
      if (!two) continue;
      medians[type] = {mpp, mtg};
      auto floor_line = [&](const std::string& what, double v, double need) {
        floors.push_back(fmt::format("  {:<6} {:<28} {:8.2f} (floor {:.2f}): {}", type, what, v, need,
                                     v >= need ? "met" : "NOT MET"));
      };
      if (HasSpeedFloor(type)) {
        floor_line("tg64 / llama.cpp", mtg / llama.tg, 1.2);
        floor_line("pp128 / llama.cpp", mpp / llama.pp, 1.0);
      }
      if (estimated) floor_line("tg64 / llama.cpp (est.)", mtg / llama.tg, 1.2);
      if (before.tg > 0) {
        floor_line("tg64 / before", mtg / before.tg, 1.0);
        floor_line("pp128 / before", mpp / before.pp, 1.0);
      }
      floor_line("4 seqs / 1 seq", mtg > 0 ? mb4 / mtg : 0, 2.0);
      floor_line("peak RSS / floor (<= 1)", floor / peak, 1.0);
    }
  }
  std::printf(
      "\nllama.cpp: 2 threads on this machine kind (issue 17); * estimated for a mix from llama.cpp's figures for its "
      "types\n(1 / speed = sum of each type's share of the weights / llama.cpp's speed for it). before = the "
      "engine before issue 17.\nceiling = bandwidth / weight bytes read per token; frac = tg64 / ceiling. floor = "
      "file + KV cache + 64 MiB.\n\nfloors (2 threads):\n");
  for (const std::string& f : floors) std::printf("%s\n", f.c_str());
  return 0;
}
