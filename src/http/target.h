// Splits an HTTP request-target into its path and decoded query parameters,
// so handlers never see raw percent-escapes in query values.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace aperture::http {

// Appends the percent-decoding of `in` to *out; with `plus_is_space`, '+'
// decodes to ' ' (application/x-www-form-urlencoded). Returns false, leaving
// *out partly written, when a '%' is not followed by two hex digits.
bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out);

// Parses an origin-form ("/p?q"), absolute-form ("http://h/p?q") or
// asterisk-form ("*") target. *path gets the path undecoded; *query gets the
// decoded name=value pairs in order (a name without '=' has an empty value;
// empty segments are skipped). Both outputs are overwritten; their storage is
// reused, so a caller parsing many targets allocates little. A bad escape, a
// byte outside printable ASCII, a query name or value that is not UTF-8 once
// decoded, or an unsupported form is an InvalidArgument error.
absl::Status ParseTarget(std::string_view target, std::string* path,
                         std::vector<std::pair<std::string, std::string>>* query);

}  // namespace aperture::http
