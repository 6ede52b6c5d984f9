// An evaluation suite as loaded from its JSONL file: the items in one of two
// formats that existing benchmarks use, and the suite's metadata.
//   multiple choice {"question", "choices", "answer"} (MMLU, WMDP), scored by
//     the log-likelihood of each choice given the question;
//   generation {"input", "target"}, scored by comparing greedy output with
//     the target: exact, includes or regex.
// See docs/evals.md. Plain value types; thread-compatible.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace aperture::evals {

enum class SuiteKind { kMultipleChoice, kGeneration };
enum class Scorer { kLogLikelihood, kExact, kIncludes, kRegex };  // multiple choice uses kLogLikelihood

// "multiple_choice", "generation".
std::string_view SuiteKindName(SuiteKind kind);
std::optional<SuiteKind> ParseSuiteKind(std::string_view name);
// "loglikelihood", "exact", "includes", "regex".
std::string_view ScorerName(Scorer scorer);
std::optional<Scorer> ParseScorer(std::string_view name);

struct SuiteInfo {
  std::string name;     // e.g. "arithmetic"
  std::string domain;   // the risk or capability domain it measures, e.g. "math", "hazard-proxy"
  std::string version;  // the suite author's version, e.g. "1.0"
  SuiteKind kind = SuiteKind::kMultipleChoice;
  Scorer scorer = Scorer::kLogLikelihood;
  std::string description;  // optional, free text
  // Lowercase hex SHA-256 of the JSONL file's bytes followed by the sidecar
  // TOML's bytes when there is one (`cat x.jsonl x.toml | sha256sum`).
  std::string sha256;
  size_t items = 0;
};

struct McItem {
  std::string question;              // the context, as the suite gives it
  std::vector<std::string> choices;  // each scored as the continuation " " + choice
  int answer = 0;                    // index of the right choice
};

struct GenItem {
  std::string input;   // the prompt, as the suite gives it
  std::string target;  // the text (exact, includes) or PCRE2 pattern (regex) to find
};

// Exactly one of mc / gen is filled, as info.kind says.
struct Suite {
  SuiteInfo info;
  std::vector<McItem> mc;
  std::vector<GenItem> gen;

  size_t size() const { return info.kind == SuiteKind::kMultipleChoice ? mc.size() : gen.size(); }
};

}  // namespace aperture::evals
