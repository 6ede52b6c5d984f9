// WebAssets: the web interface's files (web/ in the source tree), compiled
// into the binary by cmake/embed_web.cmake, so one binary serves everything
// and nothing is read from disk or fetched from elsewhere at run time.
//
// Usage:
//   for (const WebAsset& a : WebAssets()) ... a.path ("/js/app.js"), a.bytes
//   WebAssetsVersion()  // 16 hex digits that change whenever any file does
//
// Thread-safety: immutable data.
#pragma once

#include <span>
#include <string_view>

namespace aperture::ui {

struct WebAsset {
  std::string_view path;  // "/index.html", "/js/app.js": relative to web/, with a leading '/'
  std::string_view bytes;
};

std::span<const WebAsset> WebAssets();
std::string_view WebAssetsVersion();

}  // namespace aperture::ui
