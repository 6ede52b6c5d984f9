// AuthzFilter: who may call the route (role), and for model-scoped routes
// whether the caller's effective level on the model has every capability the
// request asks for. Answers 401, 403 or 404 (a model the caller may not know of).
#pragma once

#include "access/authorizer.h"
#include "filters/filter.h"

namespace aperture {

class AuthzFilter final : public Filter {
 public:
  explicit AuthzFilter(const Authorizer& authorizer) : authorizer_(authorizer) {}
  std::optional<http::Response> Apply(RequestContext& ctx) override;

 private:
  const Authorizer& authorizer_;
};

}  // namespace aperture
