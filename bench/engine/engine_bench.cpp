// The engine's speed beside llama.cpp's on the same machine kind: the
// generated 110M Llama (dim 768, 12 layers, 12 heads, ffn 2048, vocab 32000,
// tied output) in F32, Q8_0 and Q4_0 with 1 and 2 threads: pp128 and tg64
// tokens/s, 4 sequences decoded together vs 1, peak RSS against the floor
// (file + KV cache + 64 MiB), and the memory-bandwidth ceiling of decoding.
//
//   engine_bench [--models DIR] [--threads 1,2] [--types f32,q8_0,q4_0] [--reps N]
//
// Each model is measured in a child process (re-running this binary with
// --one) so each peak RSS is that model's alone.
#include <immintrin.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "engine/kernels/aligned_buffer.h"
#include "engine/kernels/cpu_features.h"
#include "engine/model/benchmark.h"
#include "engine/model/llama_model.h"
#include "engine/model/runner.h"
#include "engine/model/test_model.h"
#include "fmt/format.h"

namespace {

using namespace aperture::engine;

// llama.cpp on this machine kind, 2 threads (issue 3).
const std::map<std::string, std::pair<double, double>> kLlamaCpp = {
    {"f32", {1059, 103}}, {"q8_0", {1047, 196}}, {"q4_0", {1525, 319}}};

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

// Child: one model, one thread count; prints "pp tg batch rss_bytes file_bytes kv_bytes wbytes".
int RunOne(const std::string& path, int threads, int reps) {
  auto model = LlamaModel::Load(path);
  if (!model.ok()) {
    std::fprintf(stderr, "%s\n", std::string(model.status().message()).c_str());
    return 1;
  }
  Runner runner(**model, {.threads = threads});
  BenchOptions o;
  o.repetitions = reps;
  const BenchResult r = RunBenchmark(runner, o);
  // The benchmark's largest resident cache: 4 sequences of 129 positions.
  const Sequence probe((*model)->config(), std::max(o.pp_tokens, o.tg_tokens) + 1);
  std::printf("%f %f %f %zu %zu %zu %zu\n", r.pp_tokens_per_s, r.tg_tokens_per_s, r.batch_tokens_per_s, PeakRssBytes(),
              static_cast<size_t>(std::filesystem::file_size(path)), probe.bytes() * 4,
              (*model)->weight_bytes_per_token());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "/tmp/aperture-bench-models";
  std::string threads_arg = "1,2", types_arg = "f32,q8_0,q4_0";
  int reps = 5;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--one" && i + 3 < argc) return RunOne(argv[i + 1], std::atoi(argv[i + 2]), std::atoi(argv[i + 3]));
    if (a == "--models" && i + 1 < argc)
      dir = argv[++i];
    else if (a == "--threads" && i + 1 < argc)
      threads_arg = argv[++i];
    else if (a == "--types" && i + 1 < argc)
      types_arg = argv[++i];
    else if (a == "--reps" && i + 1 < argc)
      reps = std::atoi(argv[++i]);
    else {
      std::fprintf(stderr, "usage: %s [--models DIR] [--threads 1,2] [--types f32,q8_0,q4_0] [--reps N]\n", argv[0]);
      return 2;
    }
  }
  std::filesystem::create_directories(dir);
  const int max_threads = 2;
  std::printf(
      "engine benchmark: generated 110M Llama (dim 768, 12 layers, 12 heads, ffn 2048, "
      "vocab 32000, tied output); ISA %s; medians of %d runs\n",
      IsaName(DetectIsa()), reps);
  const double bw = MeasureBandwidth(max_threads);
  std::printf("measured read bandwidth (%d threads): %.1f GB/s\n\n", max_threads, bw);
  std::printf("%-5s %3s | %9s %9s %6s | %9s %9s %6s | %10s %6s | %9s %9s %5s | %8s %5s\n", "type", "thr", "pp128",
              "llama.cpp", "ratio", "tg64", "llama.cpp", "ratio", "4seq tok/s", "x1seq", "peakRSS", "floor", "ok",
              "ceiling", "frac");
  for (const std::string& type : Split(types_arg)) {
    const std::string path = fmt::format("{}/llama110m-{}.gguf", dir, type);
    if (!std::filesystem::exists(path)) {
      auto t = GgmlTypeFromName(type);
      if (!t) {
        std::fprintf(stderr, "unknown type %s\n", type.c_str());
        return 2;
      }
      TestModelSpec spec{
          .layers = 12, .dim = 768, .heads = 12, .kv_heads = 12, .ffn = 2048, .vocab = 32000, .type = *t, .seed = 1};
      if (absl::Status s = WriteTestModel(spec, path); !s.ok()) {
        std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
        return 1;
      }
    }
    for (const std::string& th : Split(threads_arg)) {
      const std::string cmd = fmt::format("'{}' --one '{}' {} {}", argv[0], path, th, reps);
      FILE* p = popen(cmd.c_str(), "r");
      double pp = 0, tg = 0, b4 = 0;
      size_t rss = 0, file = 0, kv = 0, wbytes = 0;
      const int n = p ? std::fscanf(p, "%lf %lf %lf %zu %zu %zu %zu", &pp, &tg, &b4, &rss, &file, &kv, &wbytes) : 0;
      if (p) pclose(p);
      if (n != 7) {
        std::printf("%-5s %3s | failed\n", type.c_str(), th.c_str());
        continue;
      }
      const auto ref = kLlamaCpp.count(type) ? kLlamaCpp.at(type) : std::make_pair(0.0, 0.0);
      const bool ref_applies = th == "2";
      const double floor = file + kv + 64.0 * 1048576;
      const double ceiling = bw * 1e9 / wbytes;
      std::printf("%-5s %3s | %9.1f %9s %6s | %9.1f %9s %6s | %10.1f %5.2fx | %7.0fMiB %7.0fMiB %5s | %8.0f %4.0f%%\n",
                  type.c_str(), th.c_str(), pp, ref_applies ? fmt::format("{:.0f}", ref.first).c_str() : "-",
                  ref_applies && ref.first > 0 ? fmt::format("{:.2f}", pp / ref.first).c_str() : "-", tg,
                  ref_applies ? fmt::format("{:.0f}", ref.second).c_str() : "-",
                  ref_applies && ref.second > 0 ? fmt::format("{:.2f}", tg / ref.second).c_str() : "-", b4,
                  tg > 0 ? b4 / tg : 0, rss / 1048576.0, floor / 1048576.0, rss <= floor ? "yes" : "NO", ceiling,
                  100 * tg / ceiling);
      std::fflush(stdout);
    }
  }
  std::printf(
      "\nllama.cpp figures: 2 threads on this machine kind (issue 3). ceiling = bandwidth / weight "
      "bytes read per token; frac = tg64 / ceiling. floor = file + KV cache + 64 MiB.\n");
  return 0;
}
