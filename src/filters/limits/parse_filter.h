// ParseFilter (limits & parse): finds the route and parses a JSON body under
// the depth limit. Transport limits (header/body size, timeouts) are already
// enforced by the HTTP server before this runs.
#pragma once

#include "filters/filter.h"

namespace aperture {

class ParseFilter final : public Filter {
 public:
  explicit ParseFilter(const Router& router) : router_(router) {}
  std::optional<http::Response> Apply(RequestContext& ctx) override;

 private:
  const Router& router_;
};

}  // namespace aperture
