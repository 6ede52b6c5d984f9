// Recorder: where every decision and change is written down. The access core
// records through this one interface; the transparency log implements it.
#pragma once

#include "absl/status/status.h"
#include "aperture/records.h"

namespace aperture {

// Implementations are thread-safe.
class Recorder {
 public:
  virtual ~Recorder() = default;
  // Queues the event; it becomes durable within milliseconds. Access decisions
  // use this so the request path never waits on the disk.
  virtual void Record(LogEvent event) = 0;
  // Returns once the event is durably stored (grants, key changes, releases).
  virtual absl::Status RecordDurably(LogEvent event) = 0;
  // Blocks until every event queued before the call is durable.
  virtual void Flush() = 0;
};

}  // namespace aperture
