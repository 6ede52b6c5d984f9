// ResearchQuota: research requests per caller, model and UTC day, against a
// scope's research_requests_per_day. The count starts from what the store's
// usage already holds for the day (so a restart does not reset it) and goes
// on in memory; UsageMeter::AddResearch puts each request in the store.
//
// Usage:
//   if (auto wait = quota.Take(store, principal, model, now, per_day)) -> 429, Retry-After *wait
//
// Thread-safety: thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aperture/store.h"

namespace aperture {

class ResearchQuota {
 public:
  // Counts one request if the day's count is below per_day (0: unlimited)
  // and returns nullopt; otherwise the seconds until the next UTC day.
  absl::StatusOr<std::optional<int64_t>> Take(Store& store, const std::string& principal, const std::string& model,
                                              int64_t now, int64_t per_day);

 private:
  absl::Mutex mu_;
  // (principal, model, day) -> requests counted; days other than today are dropped.
  std::map<std::tuple<std::string, std::string, std::string>, int64_t> counts_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture
