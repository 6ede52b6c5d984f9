// The one mapping from absl::Status to an HTTP error response.
#pragma once

#include "absl/status/status.h"
#include "http/response.h"

namespace aperture {

int HttpStatusFor(absl::StatusCode code);
// An OpenAI-style error body with the mapped status; `code` from the status
// payload when one was attached (core/error_code.h), else the status code's
// name; `param` from the status payload when a JSON field was at fault.
http::Response StatusResponse(const absl::Status& status);

}  // namespace aperture
