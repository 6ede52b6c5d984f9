// KeyUsage: remembers when each key was last used and writes it to the store
// in batches, so authentication never waits on a disk write.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "aperture/store.h"

namespace aperture {

// Thread-safe.
class KeyUsage {
 public:
  void Note(const std::string& key_id, int64_t now);
  // Writes every noted use since the last flush.
  absl::Status Flush(Store& store);

 private:
  absl::Mutex mu_;
  std::unordered_map<std::string, int64_t> pending_ ABSL_GUARDED_BY(mu_);
};

}  // namespace aperture
