// Cookie: reads one cookie from a request's Cookie header (RFC 6265 §4.2:
// `name=value` pairs separated by "; "). Browsers send what they stored, but
// anything may arrive here, so the parser accepts any bytes: it never reads
// past the header, tolerates missing or extra spaces and empty pairs, takes
// a value in double quotes without them, and answers nullopt when the
// cookie is absent. When a name appears twice the first wins (browsers put
// the cookie with the longest path first).
//
// Usage:
//   if (auto v = CookieValue(request.Header("cookie").value_or(""), "aperture_session")) ...
//
// Thread-safety: a pure function.
#pragma once

#include <optional>
#include <string_view>

namespace aperture::http {

// The value of cookie `name` in a Cookie header value; a view into `header`.
std::optional<std::string_view> CookieValue(std::string_view header, std::string_view name);

}  // namespace aperture::http
