// AuthnFilter: establishes the caller from `Authorization: Bearer ak_...` or,
// without that header, from the web interface's session cookie. No
// credentials is an anonymous caller; a bad key or session is a 401, never
// anonymous (a bad session's 401 also clears its cookie). A call that a
// cookie authenticates and that may change state (any method but GET and
// HEAD) must carry the session's CSRF token in X-CSRF-Token, else 403:
// another site can make a browser send the cookie, never the token. Bearer
// keys need no token. Routes for static content read no credentials.
#pragma once

#include "access/authenticator.h"
#include "access/session_service.h"
#include "filters/filter.h"

namespace aperture {

class AuthnFilter final : public Filter {
 public:
  AuthnFilter(const Authenticator& authenticator, const SessionService& sessions)
      : authenticator_(authenticator), sessions_(sessions) {}
  std::optional<http::Response> Apply(RequestContext& ctx) override;

 private:
  const Authenticator& authenticator_;
  const SessionService& sessions_;
};

}  // namespace aperture
