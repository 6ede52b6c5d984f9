// A machine-readable reason code carried by an absl::Status, for errors
// whose cause a caller should be able to tell apart from others of the same
// status (e.g. which separation-of-duties rule refused a grant). The HTTP
// layer answers it as the error's `code`; the record as its reason.
//
// Usage:
//   return WithErrorCode(absl::PermissionDeniedError("..."), "self_grant");
//   ErrorCode(status);  // "self_grant", or "" when none was attached
//
// Thread-safe (pure functions).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace aperture {

absl::Status WithErrorCode(absl::Status status, std::string_view code);
std::string ErrorCode(const absl::Status& status);

}  // namespace aperture
