// Pipeline: the request path in one place —
//   parse -> authn -> authz -> ratelimit -> handler -> record
// Each stage either continues or answers; record runs for every request.
#pragma once

#include <memory>
#include <vector>

#include "core/clock.h"
#include "filters/filter.h"
#include "filters/record/record_filter.h"
#include "http/request.h"
#include "http/response.h"

namespace aperture {

// Thread-safe once built.
class Pipeline {
 public:
  Pipeline(std::vector<std::unique_ptr<Filter>> filters, RecordFilter record, const Clock& clock)
      : filters_(std::move(filters)), record_(std::move(record)), clock_(clock) {}

  http::Response Handle(http::Request& request);

 private:
  std::vector<std::unique_ptr<Filter>> filters_;
  RecordFilter record_;
  const Clock& clock_;
};

}  // namespace aperture
