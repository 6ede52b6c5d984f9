// Authenticator: turns an Authorization header into a Caller. No header means
// anonymous; any key that is malformed, mistyped, unknown, revoked or expired
// is refused (Unauthenticated) with a reason code, never silently anonymous.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "access/api_key.h"
#include "access/caller.h"
#include "access/key_usage.h"
#include "aperture/store.h"
#include "core/clock.h"

namespace aperture {

// The reason code of an authentication failure ("malformed_key", "bad_checksum",
// "unknown_key", "revoked_key", "expired_key", "bad_scheme").
std::string AuthFailureReason(const absl::Status& status);
// An Unauthenticated status carrying `reason` for AuthFailureReason.
absl::Status AuthRefusal(std::string_view reason, std::string_view message);

// Thread-safe.
class Authenticator {
 public:
  Authenticator(Store& store, const ApiKeyHasher& hasher, const Clock& clock, KeyUsage& usage)
      : store_(store), hasher_(hasher), clock_(clock), usage_(usage) {}

  absl::StatusOr<Caller> Authenticate(std::optional<std::string_view> authorization, std::string address) const;

 private:
  Store& store_;
  const ApiKeyHasher& hasher_;
  const Clock& clock_;
  KeyUsage& usage_;
};

}  // namespace aperture
