// RecordFilter: the last stage, run for every request whatever happened
// before it: one `access.decision` event per decision (allowed or denied)
// through the Recorder, and the request metrics.
#pragma once

#include "aperture/recorder.h"
#include "core/clock.h"
#include "filters/metrics.h"
#include "filters/request_context.h"

namespace aperture {

// Thread-safe.
class RecordFilter {
 public:
  RecordFilter(Recorder& recorder, Metrics& metrics, const Clock& clock)
      : recorder_(recorder), metrics_(metrics), clock_(clock) {}
  void Record(const RequestContext& ctx, const http::Response& response);

 private:
  Recorder& recorder_;
  Metrics& metrics_;
  const Clock& clock_;
};

}  // namespace aperture
