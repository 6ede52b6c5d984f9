// The web interface, served by the server itself (docs/web.md):
//   GET /, /models/{model}, /models/{model}/chat, /models/{model}/request,
//       /signin, /me, /console, /log          the page shell (web/index.html)
//   GET /ui/<version>/<file>                  the embedded files, cacheable for good
// Every answer carries a strict Content-Security-Policy (scripts, styles,
// images and connections from this origin only; no inline script; Trusted
// Types required, so no script can write HTML strings into the page) and
// headers that forbid framing and sniffing. These routes read no
// credentials: the pages call the JSON API like any client.
#pragma once

#include <string>
#include <string_view>

#include "filters/route.h"

namespace aperture {

inline constexpr char kContentSecurityPolicy[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "require-trusted-types-for 'script'; trusted-types 'none'";

// The Content-Type for a file name by its extension.
std::string_view ContentTypeFor(std::string_view path);

void AddUiRoutes(Router& router);

}  // namespace aperture
