#include "access/authenticator.h"

#include "absl/strings/cord.h"
#include "core/hash.h"

namespace aperture {
namespace {

constexpr char kReasonPayload[] = "aperture/auth-reason";

absl::Status Refuse(const std::string& reason, const std::string& message) { return AuthRefusal(reason, message); }

}  // namespace

absl::Status AuthRefusal(std::string_view reason, std::string_view message) {
  absl::Status s = absl::UnauthenticatedError(std::string(message));
  s.SetPayload(kReasonPayload, absl::Cord(std::string(reason)));
  return s;
}

std::string AuthFailureReason(const absl::Status& status) {
  auto p = status.GetPayload(kReasonPayload);
  return p ? std::string(*p) : std::string("unauthenticated");
}

absl::StatusOr<Caller> Authenticator::Authenticate(std::optional<std::string_view> authorization,
                                                   std::string address) const {
  Caller caller;
  caller.address = std::move(address);
  if (!authorization) return caller;

  constexpr std::string_view kBearer = "Bearer ";
  std::string_view value = *authorization;
  if (value.size() < kBearer.size() || value.substr(0, kBearer.size()) != kBearer) {
    return Refuse("bad_scheme", "the Authorization header must be 'Bearer ak_...'");
  }
  std::string_view key = value.substr(kBearer.size());
  if (absl::Status format = CheckApiKeyFormat(key); !format.ok()) {
    bool checksum = std::string(format.message()).find("checksum") != std::string::npos;
    return Refuse(checksum ? "bad_checksum" : "malformed_key", std::string(format.message()));
  }
  const std::string hash = hasher_.Hash(key);
  auto found = store_.FindApiKeyByHash(hash);
  if (!found.ok()) return found.status();
  // The index finds the row; the constant-time compare is what decides.
  if (!found->has_value() || !ConstantTimeEquals((*found)->hash, hash)) {
    return Refuse("unknown_key", "the API key is not known to this server");
  }
  const ApiKey& k = **found;
  const int64_t now = clock_.NowSeconds();
  if (k.revoked_at != 0) return Refuse("revoked_key", "the API key has been revoked");
  if (k.expires_at != 0 && k.expires_at <= now) return Refuse("expired_key", "the API key has expired");
  auto principal = store_.FindPrincipal(k.principal_id);
  if (!principal.ok()) return principal.status();
  if (!principal->has_value()) return Refuse("unknown_key", "the API key is not known to this server");
  usage_.Note(k.id, now);
  caller.principal = std::move(**principal);
  caller.key_id = k.id;
  return caller;
}

}  // namespace aperture
