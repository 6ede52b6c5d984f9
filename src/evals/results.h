// The results of running a suite on a model: one ItemResult per item, the
// suite's metrics, and the canonical JSON whose SHA-256 the transparency log
// records. Pure functions on value types; thread-safe.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/json.h"
#include "evals/suite.h"

namespace aperture::evals {

struct ItemResult {
  int index = 0;  // the item's position in the suite (0-based, blank and header lines not counted)
  bool correct = false;
  // Multiple choice: argmax of loglik, and of loglik / the choice's length in bytes.
  int predicted = -1;
  int predicted_norm = -1;
  bool correct_norm = false;
  std::vector<double> loglik;  // per choice: sum of the continuation tokens' log-probabilities
  std::string output;          // generation: the greedy output
};

struct RunResult {
  SuiteInfo suite;
  std::string model;
  std::vector<ItemResult> items;  // by index, every item of the suite
  // Multiple choice: "acc", "acc_norm"; generation: "accuracy". Fractions in [0, 1].
  std::map<std::string, double> metrics;
  std::string results_sha256;  // lowercase hex SHA-256 of ResultsJson(*this)
};

// One item as JSON, and back (for storing finished items to resume a run).
Json ItemResultToJson(const ItemResult& item);
absl::StatusOr<ItemResult> ItemResultFromJson(const Json& json);

// The canonical JSON (sorted keys, no whitespace) of the model, the suite's
// identity, the metrics and every item's result; independent of the order in
// which items finished. Doubles print in their shortest round-trip form.
std::string ResultsJson(const RunResult& result);

// The metrics over `items` (an empty list gives 0s).
std::map<std::string, double> ComputeMetrics(const Suite& suite, const std::vector<ItemResult>& items);

}  // namespace aperture::evals
