// AuthnFilter: establishes the caller from `Authorization: Bearer ak_...`.
// No header is an anonymous caller; a bad key is a 401, never anonymous.
#pragma once

#include "access/authenticator.h"
#include "filters/filter.h"

namespace aperture {

class AuthnFilter final : public Filter {
 public:
  explicit AuthnFilter(const Authenticator& authenticator) : authenticator_(authenticator) {}
  std::optional<http::Response> Apply(RequestContext& ctx) override;

 private:
  const Authenticator& authenticator_;
};

}  // namespace aperture
