#include "access/session_service.h"

#include "core/hash.h"
#include "core/hex.h"
#include "core/json.h"
#include "core/random.h"
#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {

bool IsSessionSecret(std::string_view secret) {
  if (secret.size() != 64) return false;
  for (char c : secret) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string SessionService::HashOf(std::string_view secret) const {
  return hasher_.Hash(fmt::format("session:{}", secret));
}

std::string SessionService::CsrfToken(std::string_view secret) const {
  return HexEncode(hasher_.Hash(fmt::format("csrf:{}", secret)));
}

bool SessionService::CsrfTokenMatches(std::string_view secret, std::optional<std::string_view> sent) const {
  if (!sent) return false;
  return ConstantTimeEquals(CsrfToken(secret), *sent);
}

absl::Status SessionService::Record(const std::string& type, const std::string& actor, const Json& details) const {
  LogEvent e;
  e.type = type;
  e.time = clock_.NowSeconds();
  e.actor = actor;
  e.outcome = "ok";
  e.reason = "ok";
  e.details = CanonicalJson(details);
  return recorder_.RecordDurably(std::move(e));
}

absl::StatusOr<StartedSession> SessionService::SignIn(std::string_view api_key, const std::string& address) const {
  ASSIGN_OR_RETURN(Caller caller, keys_.Authenticate(fmt::format("Bearer {}", api_key), address));
  if (caller.anonymous()) return AuthRefusal("malformed_key", "give the API key to sign in with");
  ASSIGN_OR_RETURN(std::optional<ApiKey> key, store_.FindApiKey(caller.key_id));
  if (!key) return AuthRefusal("unknown_key", "the API key is not known to this server");
  const int64_t now = clock_.NowSeconds();
  StartedSession started;
  started.secret = HexEncode(RandomBytes(32));
  started.csrf_token = CsrfToken(started.secret);
  started.principal = *caller.principal;
  Session& s = started.session;
  s.id = NewId("ses");
  s.hash = HashOf(started.secret);
  s.principal_id = caller.principal->id;
  s.key_id = key->id;
  s.created_at = now;
  s.expires_at = now + config_.sessions.ttl_seconds;
  if (key->expires_at != 0) s.expires_at = std::min(s.expires_at, key->expires_at);
  // Sessions that expired a day ago are of no use even to explain a refusal.
  RETURN_IF_ERROR(store_.CreateSession(s, now - 86400));
  RETURN_IF_ERROR(
      Record("session.started", s.principal_id, {{"session", s.id}, {"key", s.key_id}, {"expires_at", s.expires_at}}));
  return started;
}

absl::StatusOr<Caller> SessionService::Authenticate(std::string_view secret, std::string address) const {
  if (!IsSessionSecret(secret)) {
    return AuthRefusal("malformed_session", "the session cookie is malformed; sign in again");
  }
  const std::string hash = HashOf(secret);
  ASSIGN_OR_RETURN(std::optional<Session> s, store_.FindSessionByHash(hash));
  // The index finds the row; the constant-time compare is what decides.
  if (!s || !ConstantTimeEquals(s->hash, hash)) {
    return AuthRefusal("unknown_session", "the session is not known to this server; sign in again");
  }
  const int64_t now = clock_.NowSeconds();
  if (s->ended_at != 0) return AuthRefusal("session_ended", "you signed out of this session; sign in again");
  if (s->expires_at <= now) return AuthRefusal("session_expired", "the session has expired; sign in again");
  ASSIGN_OR_RETURN(std::optional<ApiKey> key, store_.FindApiKey(s->key_id));
  if (!key) return AuthRefusal("unknown_key", "the session's API key is not known to this server");
  if (key->revoked_at != 0) return AuthRefusal("revoked_key", "the session's API key has been revoked");
  if (key->expires_at != 0 && key->expires_at <= now) {
    return AuthRefusal("expired_key", "the session's API key has expired");
  }
  ASSIGN_OR_RETURN(std::optional<Principal> principal, store_.FindPrincipal(s->principal_id));
  if (!principal) return AuthRefusal("unknown_key", "the session's principal is not known to this server");
  Caller caller;
  caller.principal = std::move(*principal);
  caller.key_id = key->id;
  caller.session_id = s->id;
  caller.session_expires_at = s->expires_at;
  caller.address = std::move(address);
  return caller;
}

absl::Status SessionService::SignOut(const Caller& caller) const {
  if (caller.session_id.empty()) {
    return absl::FailedPreconditionError("this request did not come with a session; there is nothing to sign out of");
  }
  RETURN_IF_ERROR(store_.EndSession(caller.session_id, clock_.NowSeconds()));
  return Record("session.ended", caller.actor(), {{"session", caller.session_id}});
}

std::string SessionService::Cookie(const StartedSession& started) const {
  const int64_t max_age = std::max<int64_t>(0, started.session.expires_at - clock_.NowSeconds());
  return fmt::format("{}={}; Path=/; Max-Age={}; HttpOnly; SameSite=Strict{}", kSessionCookieName, started.secret,
                     max_age, config_.sessions.secure_cookie ? "; Secure" : "");
}

std::string SessionService::ClearingCookie() const {
  return fmt::format("{}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict{}", kSessionCookieName,
                     config_.sessions.secure_cookie ? "; Secure" : "");
}

}  // namespace aperture
