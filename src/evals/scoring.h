// Scoring one item: the prediction of a multiple-choice item from its
// choices' log-likelihoods (lm-evaluation-harness's acc and acc_norm), and
// the generation scorers (exact, includes, regex, after Inspect's basic
// scorers). Pure functions; thread-safe.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "evals/suite.h"

namespace aperture::evals {

struct McPrediction {
  int predicted = 0;       // argmax of the log-likelihoods (the first on ties)
  int predicted_norm = 0;  // argmax of log-likelihood / the choice's length in bytes
};

// `loglik` has one entry per choice of `item`.
McPrediction PredictMultipleChoice(const McItem& item, std::span<const double> loglik);

// Whether `output` scores as right for `target`:
//   exact:    equal once leading and trailing whitespace is trimmed from both;
//   includes: the target occurs in the output;
//   regex:    the target, a PCRE2 pattern, matches somewhere in the output.
// Case-sensitive. kLogLikelihood and a target that is not a valid pattern
// are InvalidArgument (a loaded suite never has either).
absl::StatusOr<bool> ScoreGeneration(Scorer scorer, std::string_view target, std::string_view output);

// ASCII whitespace trimmed from both ends.
std::string_view TrimWhitespace(std::string_view s);

}  // namespace aperture::evals
