#include "core/json.h"
#include "http/response.h"

namespace aperture::http {
namespace {

std::string_view ErrorType(int status) {
  switch (status) {
    case 400:
    case 413:
    case 431:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 408:
      return "timeout_error";
    case 409:
      return "conflict_error";
    case 429:
      return "rate_limit_error";
    case 501:
      return "not_implemented_error";
    case 503:
      return "overloaded_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace

Response ErrorResponse(int status, std::string_view message, std::string_view code, std::string_view param) {
  Json error = {{"message", message},
                {"type", ErrorType(status)},
                {"code", code},
                {"param", param.empty() ? Json(nullptr) : Json(param)}};
  Response r;
  r.status = status;
  r.body = DumpJson(Json{{"error", std::move(error)}});
  return r;
}

}  // namespace aperture::http
