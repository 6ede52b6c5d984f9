#include "filters/metrics.h"

#include "fmt/format.h"

namespace aperture {

void Metrics::ObserveRequest(const std::string& route, int status, double seconds) {
  absl::MutexLock lock(&mu_);
  ++requests_[{route, status}];
  Histogram& h = latency_[route];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++h.counts[i];
  }
  ++h.count;
  h.sum += seconds;
}

void Metrics::CountDecision(const std::string& outcome, const std::string& level) {
  absl::MutexLock lock(&mu_);
  ++decisions_[{outcome, level}];
}

std::string Metrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  out += "# HELP aperture_requests_total HTTP requests by route and status.\n";
  out += "# TYPE aperture_requests_total counter\n";
  for (const auto& [key, n] : requests_) {
    out += fmt::format("aperture_requests_total{{route=\"{}\",status=\"{}\"}} {}\n", key.first, key.second, n);
  }
  out += "# HELP aperture_decisions_total Access decisions by outcome and effective level.\n";
  out += "# TYPE aperture_decisions_total counter\n";
  for (const auto& [key, n] : decisions_) {
    out += fmt::format("aperture_decisions_total{{outcome=\"{}\",level=\"{}\"}} {}\n", key.first, key.second, n);
  }
  out += "# HELP aperture_request_duration_seconds Time from request parsed to response ready.\n";
  out += "# TYPE aperture_request_duration_seconds histogram\n";
  for (const auto& [route, h] : latency_) {
    for (size_t i = 0; i < kBuckets.size(); ++i) {
      out += fmt::format("aperture_request_duration_seconds_bucket{{route=\"{}\",le=\"{}\"}} {}\n", route, kBuckets[i],
                         h.counts[i]);
    }
    out += fmt::format("aperture_request_duration_seconds_bucket{{route=\"{}\",le=\"+Inf\"}} {}\n", route, h.count);
    out += fmt::format("aperture_request_duration_seconds_sum{{route=\"{}\"}} {}\n", route, h.sum);
    out += fmt::format("aperture_request_duration_seconds_count{{route=\"{}\"}} {}\n", route, h.count);
  }
  return out;
}

}  // namespace aperture
