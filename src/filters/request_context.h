// RequestContext: what the filter chain learns about one request as it runs
// (the route, the parsed body, the caller, the access decision), handed to
// the handler and finally to the record filter.
#pragma once

#include <any>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "access/authorizer.h"
#include "access/caller.h"
#include "access/research_scope.h"
#include "core/json.h"
#include "filters/admission/charges.h"
#include "filters/route.h"
#include "http/request.h"

namespace aperture {

struct RequestContext {
  explicit RequestContext(http::Request& r) : request(r) {}

  http::Request& request;
  const Route* route = nullptr;
  std::vector<std::pair<std::string, std::string>> path_params;
  Json body;  // null unless the request had a JSON body
  Caller caller;
  std::string model_id;                  // for model-scoped routes
  std::optional<Decision> decision;      // set by authz for model-scoped routes
  std::vector<Capability> capabilities;  // everything this request asks to do
  // What admission charged, for the handler to settle with the real use.
  Charges charges;
  // Research requests: what it reads, writes and costs (set by the research
  // scope quota from the route's planner), and what the planner prepared
  // for the handler (e.g. a research plan).
  std::optional<ResearchDemand> research;
  std::any prepared;
  // What the record filter writes: "allow" unless a filter or handler
  // refused ("deny"), or an internal error stopped the request ("error").
  std::string outcome = "allow";
  std::string reason = "ok";
  int64_t start_micros = 0;
  // Unique per request within the server's run; sent as X-Request-Id and
  // written in the record, so a caller's 500 can be found in the log.
  std::string request_id;

  std::string PathParam(std::string_view name) const {
    for (const auto& [k, v] : path_params) {
      if (k == name) return v;
    }
    return {};
  }
  // Marks the request denied with a reason code (for the record).
  void Deny(std::string reason_code) {
    outcome = "deny";
    reason = std::move(reason_code);
  }
  // Marks the request stopped by an internal error (for the record).
  void Fail(std::string reason_code) {
    outcome = "error";
    reason = std::move(reason_code);
  }
};

}  // namespace aperture
