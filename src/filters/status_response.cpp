#include "filters/status_response.h"

#include "core/ascii.h"
#include "core/error_code.h"
#include "core/json.h"

namespace aperture {

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

http::Response StatusResponse(const absl::Status& status) {
  const int code = HttpStatusFor(status.code());
  // Internal details stay in the server log, not in the answer.
  std::string message = code == 500 ? "internal error" : std::string(status.message());
  std::string name = ErrorCode(status);
  if (name.empty()) name = AsciiLower(absl::StatusCodeToString(status.code()));
  return http::ErrorResponse(code, message, name, ErrorParam(status));
}

}  // namespace aperture
