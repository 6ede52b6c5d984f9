// Filter: one stage of the request chain. It either lets the request continue
// (nullopt) or answers it (a Response), as Envoy's HTTP filters do.
#pragma once

#include <optional>

#include "filters/request_context.h"
#include "http/response.h"

namespace aperture {

// Implementations are thread-safe: one instance serves every request.
class Filter {
 public:
  virtual ~Filter() = default;
  virtual std::optional<http::Response> Apply(RequestContext& ctx) = 0;
};

}  // namespace aperture
