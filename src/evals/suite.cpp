#include "evals/suite.h"

namespace aperture::evals {

std::string_view SuiteKindName(SuiteKind kind) {
  return kind == SuiteKind::kMultipleChoice ? "multiple_choice" : "generation";
}

std::optional<SuiteKind> ParseSuiteKind(std::string_view name) {
  if (name == "multiple_choice") return SuiteKind::kMultipleChoice;
  if (name == "generation") return SuiteKind::kGeneration;
  return std::nullopt;
}

std::string_view ScorerName(Scorer scorer) {
  switch (scorer) {
    case Scorer::kLogLikelihood:
      return "loglikelihood";
    case Scorer::kExact:
      return "exact";
    case Scorer::kIncludes:
      return "includes";
    case Scorer::kRegex:
      return "regex";
  }
  return "exact";
}

std::optional<Scorer> ParseScorer(std::string_view name) {
  if (name == "loglikelihood") return Scorer::kLogLikelihood;
  if (name == "exact") return Scorer::kExact;
  if (name == "includes") return Scorer::kIncludes;
  if (name == "regex") return Scorer::kRegex;
  return std::nullopt;
}

}  // namespace aperture::evals
