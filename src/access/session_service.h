// SessionService: the web interface's sign-in. A browser signs in once with
// an API key; the server then holds a session and the browser a cookie with
// the session's random secret (32 bytes, 64 hex digits), which stands in for
// the key. Only a keyed hash of the secret is stored, so a stolen database
// holds no usable session. A session ends at its expiry (config
// sessions.ttl, never later than its key's), at sign-out, or as soon as its
// key is revoked or its principal removed.
//
// Cookie-authenticated calls that change state must also carry the
// session's CSRF token (X-CSRF-Token): a keyed hash of the secret that the
// page learns from the sign-in answer or GET /v1/session, which another
// site's page can neither read nor compute. Bearer-key calls need no token:
// browsers never add an Authorization header on their own.
//
// Limits and errors: a malformed, unknown, expired or ended secret, or one
// whose key no longer works, is Unauthenticated with a reason code
// (AuthFailureReason): "malformed_session", "unknown_session",
// "session_expired", "session_ended", or the key's own reason.
//
// Usage:
//   ASSIGN_OR_RETURN(StartedSession s, sessions.SignIn(key, address));
//   response.SetHeader("Set-Cookie", sessions.Cookie(s));
//   ... later, for each request carrying the cookie:
//   ASSIGN_OR_RETURN(Caller caller, sessions.Authenticate(secret, address));
//   if (!sessions.CsrfTokenMatches(secret, header)) ... 403
//
// Thread-safety: thread-safe (the store and recorder are).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "access/api_key.h"
#include "access/authenticator.h"
#include "access/caller.h"
#include "aperture/recorder.h"
#include "aperture/store.h"
#include "config/config.h"
#include "core/clock.h"
#include "core/json.h"

namespace aperture {

inline constexpr char kSessionCookieName[] = "aperture_session";
inline constexpr char kCsrfHeader[] = "x-csrf-token";

// A session as started: the secret goes into the cookie, once.
struct StartedSession {
  Session session;
  Principal principal;
  std::string secret;
  std::string csrf_token;
};

// Whether `secret` has the shape of a session secret (64 lower-case hex digits).
bool IsSessionSecret(std::string_view secret);

class SessionService {
 public:
  SessionService(Store& store, Recorder& recorder, const ApiKeyHasher& hasher, const Authenticator& keys,
                 const Config& config, const Clock& clock)
      : store_(store), recorder_(recorder), hasher_(hasher), keys_(keys), config_(config), clock_(clock) {}

  // Checks `api_key` as a bearer key would be checked, then starts a session
  // (recorded as session.started).
  absl::StatusOr<StartedSession> SignIn(std::string_view api_key, const std::string& address) const;

  // The caller the session with this secret stands for.
  absl::StatusOr<Caller> Authenticate(std::string_view secret, std::string address) const;

  // The session's CSRF token (64 hex digits) and a constant-time check of one sent.
  std::string CsrfToken(std::string_view secret) const;
  bool CsrfTokenMatches(std::string_view secret, std::optional<std::string_view> sent) const;

  // Ends the caller's session (recorded as session.ended). FailedPrecondition
  // when the caller did not come with a session.
  absl::Status SignOut(const Caller& caller) const;

  // Set-Cookie values: the session's cookie, and one that removes it.
  std::string Cookie(const StartedSession& started) const;
  std::string ClearingCookie() const;

 private:
  std::string HashOf(std::string_view secret) const;
  absl::Status Record(const std::string& type, const std::string& actor, const Json& details) const;

  Store& store_;
  Recorder& recorder_;
  const ApiKeyHasher& hasher_;
  const Authenticator& keys_;
  const Config& config_;
  const Clock& clock_;
};

}  // namespace aperture
