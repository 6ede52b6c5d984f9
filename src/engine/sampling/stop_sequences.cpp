#include "engine/sampling/stop_sequences.h"

#include <algorithm>

namespace aperture::engine {

StopSequences::StopSequences(std::vector<std::string> stops) {
  for (size_t i = 0; i < stops.size(); ++i) {
    if (stops[i].empty()) continue;
    stops_.push_back(std::move(stops[i]));
    original_index_.push_back(i);
  }
}

StopSequences::Result StopSequences::Push(std::string_view text) {
  Result r;
  if (stopped_) return r;
  pending_.append(text);
  // Earliest occurrence wins; on the same position the longer stop string does.
  size_t best_pos = std::string::npos, best = 0;
  for (size_t i = 0; i < stops_.size(); ++i) {
    const size_t pos = pending_.find(stops_[i]);
    if (pos == std::string::npos) continue;
    if (pos < best_pos || (pos == best_pos && stops_[i].size() > stops_[best].size())) {
      best_pos = pos;
      best = i;
    }
  }
  if (best_pos != std::string::npos) {
    r.emit = pending_.substr(0, best_pos);
    r.stopped = true;
    r.stop_index = original_index_[best];
    stopped_ = true;
    pending_.clear();
    return r;
  }
  // Hold back the longest tail that is a proper prefix of some stop string.
  size_t hold = 0;
  for (const std::string& stop : stops_) {
    const size_t max_len = std::min(stop.size() - 1, pending_.size());
    for (size_t len = max_len; len > hold; --len) {
      if (std::string_view(pending_).substr(pending_.size() - len) == std::string_view(stop).substr(0, len)) {
        hold = len;
        break;
      }
    }
  }
  r.emit = pending_.substr(0, pending_.size() - hold);
  pending_.erase(0, pending_.size() - hold);
  return r;
}

std::string StopSequences::Flush() {
  std::string out;
  if (!stopped_) out.swap(pending_);
  pending_.clear();
  return out;
}

}  // namespace aperture::engine
