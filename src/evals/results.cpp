#include "evals/results.h"

#include <algorithm>

#include "core/hash.h"
#include "fmt/format.h"

namespace aperture::evals {

Json ItemResultToJson(const ItemResult& item) {
  Json j = Json::object();
  j["index"] = item.index;
  j["correct"] = item.correct;
  if (!item.loglik.empty() || item.predicted >= 0) {
    j["predicted"] = item.predicted;
    j["predicted_norm"] = item.predicted_norm;
    j["correct_norm"] = item.correct_norm;
    j["loglik"] = item.loglik;
  } else {
    j["output"] = item.output;
  }
  return j;
}

absl::StatusOr<ItemResult> ItemResultFromJson(const Json& json) {
  if (!json.is_object()) return absl::InvalidArgumentError("an item result must be a JSON object");
  ItemResult item;
  auto index = json.find("index");
  if (index == json.end() || !index->is_number_integer() || index->get<int64_t>() < 0 ||
      index->get<int64_t>() > INT32_MAX) {
    return absl::InvalidArgumentError("an item result needs 'index', a non-negative integer");
  }
  item.index = index->get<int>();
  auto correct = json.find("correct");
  if (correct == json.end() || !correct->is_boolean()) {
    return absl::InvalidArgumentError(fmt::format("item {}: 'correct' must be true or false", item.index));
  }
  item.correct = correct->get<bool>();
  if (auto output = json.find("output"); output != json.end()) {
    if (!output->is_string())
      return absl::InvalidArgumentError(fmt::format("item {}: 'output' must be a string", item.index));
    item.output = output->get<std::string>();
    return item;
  }
  auto predicted = json.find("predicted");
  auto predicted_norm = json.find("predicted_norm");
  auto correct_norm = json.find("correct_norm");
  auto loglik = json.find("loglik");
  if (predicted == json.end() || !predicted->is_number_integer() || predicted_norm == json.end() ||
      !predicted_norm->is_number_integer() || correct_norm == json.end() || !correct_norm->is_boolean() ||
      loglik == json.end() || !loglik->is_array()) {
    return absl::InvalidArgumentError(fmt::format(
        "item {}: a result needs 'output' (generation) or predicted, predicted_norm, correct_norm and loglik "
        "(multiple choice)",
        item.index));
  }
  item.predicted = predicted->get<int>();
  item.predicted_norm = predicted_norm->get<int>();
  item.correct_norm = correct_norm->get<bool>();
  for (const Json& x : *loglik) {
    if (!x.is_number())
      return absl::InvalidArgumentError(fmt::format("item {}: 'loglik' must hold numbers", item.index));
    item.loglik.push_back(x.get<double>());
  }
  return item;
}

std::string ResultsJson(const RunResult& result) {
  Json j = Json::object();
  j["model"] = result.model;
  j["suite"] = {{"name", result.suite.name},
                {"domain", result.suite.domain},
                {"version", result.suite.version},
                {"kind", std::string(SuiteKindName(result.suite.kind))},
                {"scorer", std::string(ScorerName(result.suite.scorer))},
                {"sha256", result.suite.sha256},
                {"items", result.suite.items}};
  std::vector<const ItemResult*> items;
  for (const ItemResult& item : result.items) items.push_back(&item);
  std::stable_sort(items.begin(), items.end(),
                   [](const ItemResult* a, const ItemResult* b) { return a->index < b->index; });
  Json arr = Json::array();
  for (const ItemResult* item : items) arr.push_back(ItemResultToJson(*item));
  j["items"] = std::move(arr);
  j["metrics"] = result.metrics;
  return CanonicalJson(j);
}

std::map<std::string, double> ComputeMetrics(const Suite& suite, const std::vector<ItemResult>& items) {
  const double n = static_cast<double>(items.size());
  double correct = 0, correct_norm = 0;
  for (const ItemResult& item : items) {
    correct += item.correct ? 1 : 0;
    correct_norm += item.correct_norm ? 1 : 0;
  }
  if (suite.info.kind == SuiteKind::kMultipleChoice) {
    return {{"acc", n > 0 ? correct / n : 0.0}, {"acc_norm", n > 0 ? correct_norm / n : 0.0}};
  }
  return {{"accuracy", n > 0 ? correct / n : 0.0}};
}

}  // namespace aperture::evals
