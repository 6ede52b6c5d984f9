// Pipeline: the request path in one place —
//   parse -> authn -> authz -> admission (rates, research scope) -> handler -> record
// Each stage either continues or answers; record runs for every request.
//
// The pipeline always answers and always records: a filter or handler that
// throws gives the caller a 500 naming the request id (the details go to
// the server's log, never to the caller), and the record still runs. Every
// answer carries X-Request-Id. A pending answer (http::PendingResponse) is
// recorded when it is known, or with status 499 if the client leaves first.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
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
  Pipeline(std::vector<std::unique_ptr<Filter>> filters, RecordFilter record, const Clock& clock);

  http::Response Handle(http::Request& request);
  // Records an answer the transport gave before the chain (a malformed or
  // too slow request, a connection over the cap), as a denial of an
  // anonymous caller on the route "transport"; returns its request id.
  std::string RecordTransportAnswer(int status, std::string_view reason);

 private:
  // The filters, then the handler; an exception becomes a 500.
  http::Response Run(RequestContext& ctx);
  std::string NextRequestId();

  std::vector<std::unique_ptr<Filter>> filters_;
  RecordFilter record_;
  const Clock& clock_;
  const std::string id_prefix_;  // random per run, so ids differ across restarts
  std::atomic<uint64_t> next_id_{0};
};

}  // namespace aperture
