// Routes about the caller themselves, for the web interface and any client:
//   POST   /v1/session        sign in with {"key": "ak_..."}: a session cookie
//   GET    /v1/session        who the caller is, and the session's CSRF token
//   DELETE /v1/session        sign out
//   GET    /v1/me             the caller's level on each visible model, and why
//   GET    /v1/me/keys        the caller's own keys
//   POST   /v1/me/keys        a new key for the caller (shown once)
//   DELETE /v1/me/keys/{id}   revoke one of the caller's own keys
// (The admin key routes stay owner-only; these touch only the caller's keys.)
#pragma once

#include "api/api_deps.h"
#include "filters/route.h"

namespace aperture {

void AddMeRoutes(Router& router, ApiDeps& deps);

}  // namespace aperture
