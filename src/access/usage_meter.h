// UsageMeter: counts tokens served per principal, model and UTC day in
// memory and adds them to the store in batches, so serving never waits on a
// disk write for accounting.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <tuple>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "aperture/store.h"

namespace aperture {

// Thread-safe.
class UsageMeter {
 public:
  void Add(const std::string& principal, const std::string& model, int64_t unix_seconds, int64_t prompt_tokens,
           int64_t completion_tokens);
  // One research request (run, patch, directions) and its forward-pass tokens.
  void AddResearch(const std::string& principal, const std::string& model, int64_t unix_seconds,
                   int64_t forward_tokens);
  // Adds everything counted since the last flush to the store.
  absl::Status Flush(Store& store);

  // "2026-11-23" for a time.
  static std::string Day(int64_t unix_seconds);

 private:
  void MergeLocked(const UsageRow& delta) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  absl::Mutex mu_;
  std::map<std::tuple<std::string, std::string, std::string>, UsageRow> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture
