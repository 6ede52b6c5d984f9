// The transparency report as one self-contained HTML page (no scripts, no
// outside resources), rendered from the report's JSON so the page and the
// signed JSON always say the same. Every value is HTML-escaped; links come
// only from the server's own routes or the owner's declared http(s) URLs.
//
// Usage:
//   http::Response r; r.content_type = "text/html; charset=utf-8"; r.body = ReportHtml(report_json);
//
// Thread-safety: pure function.
#pragma once

#include <string>

#include "core/json.h"

namespace aperture::report {

std::string ReportHtml(const Json& report);

}  // namespace aperture::report
