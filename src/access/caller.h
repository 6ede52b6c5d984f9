// Caller: who is making a request, as authentication established it.
#pragma once

#include <optional>
#include <string>

#include "aperture/records.h"

namespace aperture {

struct Caller {
  std::optional<Principal> principal;  // nullopt = anonymous
  std::string key_id;                  // the key used, if any
  std::string session_id;              // the browser session it came with ("" for a bearer key)
  int64_t session_expires_at = 0;      // when that session ends
  std::string address;                 // client IP

  bool anonymous() const { return !principal.has_value(); }
  bool IsAtLeast(Role role) const { return principal && principal->role >= role; }
  // The actor named in records: a principal id, or "anonymous".
  std::string actor() const { return principal ? principal->id : "anonymous"; }
};

}  // namespace aperture
