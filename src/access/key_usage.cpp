#include "access/key_usage.h"

#include <vector>

namespace aperture {

void KeyUsage::Note(const std::string& key_id, int64_t now) {
  absl::MutexLock lock(&mu_);
  int64_t& t = pending_[key_id];
  if (now > t) t = now;
}

absl::Status KeyUsage::Flush(Store& store) {
  std::vector<std::pair<std::string, int64_t>> batch;
  {
    absl::MutexLock lock(&mu_);
    batch.assign(pending_.begin(), pending_.end());
    pending_.clear();
  }
  return store.TouchApiKeys(batch);
}

}  // namespace aperture
