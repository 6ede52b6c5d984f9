#include "access/research_quota.h"

#include "access/usage_meter.h"
#include "core/status_macros.h"

namespace aperture {

absl::StatusOr<std::optional<int64_t>> ResearchQuota::Take(Store& store, const std::string& principal,
                                                           const std::string& model, int64_t now, int64_t per_day) {
  const std::string day = UsageMeter::Day(now);
  const auto key = std::make_tuple(principal, model, day);
  {
    absl::MutexLock lock(&mu_);
    auto it = counts_.find(key);
    if (it != counts_.end()) {
      if (per_day > 0 && it->second >= per_day) return std::optional<int64_t>(86400 - now % 86400);
      ++it->second;
      return std::optional<int64_t>();
    }
  }
  // First request of the day here: start from the store's count.
  ASSIGN_OR_RETURN(std::vector<UsageRow> rows, store.ListUsage(principal, day, day));
  int64_t stored = 0;
  for (const UsageRow& r : rows)
    if (r.model == model) stored += r.research_requests;
  absl::MutexLock lock(&mu_);
  std::erase_if(counts_, [&](const auto& entry) { return std::get<2>(entry.first) != day; });
  auto [it, fresh] = counts_.emplace(key, stored);
  if (per_day > 0 && it->second >= per_day) return std::optional<int64_t>(86400 - now % 86400);
  ++it->second;
  return std::optional<int64_t>();
}

}  // namespace aperture
