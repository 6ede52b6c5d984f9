// RecordFilter: the last stage, run for every request whatever happened
// before it: one `access.decision` event per decision (allowed or denied)
// through the Recorder, and the request metrics. For a pending response the
// record is written when the answer is known (or the client leaves), so it
// carries the status the caller actually got.
#pragma once

#include <string>
#include <vector>

#include "aperture/recorder.h"
#include "core/clock.h"
#include "filters/metrics.h"
#include "filters/request_context.h"

namespace aperture {

// What the record needs of a request, copied out of its RequestContext
// (which refers to the connection's Request, and a pending answer outlives
// that).
struct RequestRecord {
  std::string route;
  std::string request_id;
  std::string actor;
  std::string key_id;
  std::string model_id;
  std::string level;  // empty: no model decision
  std::string outcome;
  std::string reason;
  std::vector<Capability> capabilities;
  int64_t start_micros = 0;
};

// The status recorded when the client went away before its answer was
// known (nginx's 499).
inline constexpr int kClientClosedRequest = 499;

// Thread-safe.
class RecordFilter {
 public:
  RecordFilter(Recorder& recorder, Metrics& metrics, const Clock& clock)
      : recorder_(recorder), metrics_(metrics), clock_(clock) {}
  // Records `ctx` answered with `status` now.
  void Record(const RequestContext& ctx, int status) { Write(Capture(ctx), status); }

  static RequestRecord Capture(const RequestContext& ctx);
  void Write(const RequestRecord& record, int status);

 private:
  Recorder& recorder_;
  Metrics& metrics_;
  const Clock& clock_;
};

}  // namespace aperture
