#include "evals/scoring.h"

#include <algorithm>

#include "evals/regex.h"

namespace aperture::evals {

McPrediction PredictMultipleChoice(const McItem& item, std::span<const double> loglik) {
  McPrediction p;
  double best = 0, best_norm = 0;
  for (size_t i = 0; i < loglik.size() && i < item.choices.size(); ++i) {
    // lm-evaluation-harness: acc_norm divides by the choice's length (without the target delimiter).
    const double norm = loglik[i] / static_cast<double>(std::max<size_t>(1, item.choices[i].size()));
    if (i == 0 || loglik[i] > best) {
      best = loglik[i];
      p.predicted = static_cast<int>(i);
    }
    if (i == 0 || norm > best_norm) {
      best_norm = norm;
      p.predicted_norm = static_cast<int>(i);
    }
  }
  return p;
}

std::string_view TrimWhitespace(std::string_view s) {
  constexpr std::string_view kSpace = " \t\n\r\f\v";
  const size_t begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

absl::StatusOr<bool> ScoreGeneration(Scorer scorer, std::string_view target, std::string_view output) {
  switch (scorer) {
    case Scorer::kExact:
      return TrimWhitespace(target) == TrimWhitespace(output);
    case Scorer::kIncludes:
      return output.find(target) != std::string_view::npos;
    case Scorer::kRegex: {
      absl::StatusOr<Regex> re = Regex::Compile(target);
      if (!re.ok()) return re.status();
      return re->Search(output);
    }
    case Scorer::kLogLikelihood:
      break;
  }
  return absl::InvalidArgumentError("the loglikelihood scorer scores multiple-choice items, not generated text");
}

}  // namespace aperture::evals
