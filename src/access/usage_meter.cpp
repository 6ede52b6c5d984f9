#include "access/usage_meter.h"

#include <ctime>
#include <vector>

namespace aperture {

std::string UsageMeter::Day(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[16];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

void UsageMeter::MergeLocked(const UsageRow& delta) {
  UsageRow& row = pending_[{delta.principal, delta.model, delta.day}];
  row.principal = delta.principal;
  row.model = delta.model;
  row.day = delta.day;
  row.requests += delta.requests;
  row.prompt_tokens += delta.prompt_tokens;
  row.completion_tokens += delta.completion_tokens;
  row.research_requests += delta.research_requests;
  row.research_tokens += delta.research_tokens;
}

void UsageMeter::Add(const std::string& principal, const std::string& model, int64_t unix_seconds,
                     int64_t prompt_tokens, int64_t completion_tokens) {
  UsageRow delta{principal, model, Day(unix_seconds), 1, prompt_tokens, completion_tokens};
  absl::MutexLock lock(&mu_);
  MergeLocked(delta);
}

void UsageMeter::AddResearch(const std::string& principal, const std::string& model, int64_t unix_seconds,
                             int64_t forward_tokens) {
  UsageRow delta{principal, model, Day(unix_seconds), 0, 0, 0, 1, forward_tokens};
  absl::MutexLock lock(&mu_);
  MergeLocked(delta);
}

absl::Status UsageMeter::Flush(Store& store) {
  std::vector<UsageRow> batch;
  {
    absl::MutexLock lock(&mu_);
    for (auto& [key, row] : pending_) batch.push_back(std::move(row));
    pending_.clear();
  }
  absl::Status s = store.AddUsage(batch);
  if (!s.ok()) {
    // Put the counts back so a transient failure loses nothing.
    absl::MutexLock lock(&mu_);
    for (const UsageRow& r : batch) MergeLocked(r);
  }
  return s;
}

}  // namespace aperture
