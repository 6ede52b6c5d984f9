#include "api/ui/ui_routes.h"

#include "api/ui/web_assets.h"
#include "fmt/format.h"

namespace aperture {
namespace {

constexpr std::string_view kShellPath = "/index.html";
constexpr std::string_view kBasePlaceholder = "{{BASE}}";

// The paths that show a page; the page's script reads the path itself.
constexpr const char* kPages[] = {"/",
                                  "/models/{model}",
                                  "/models/{model}/chat",
                                  "/models/{model}/request",
                                  "/models/{model}/research",
                                  "/signin",
                                  "/me",
                                  "/console",
                                  "/log"};

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

http::Response Secured(http::Response r) {
  r.SetHeader("Content-Security-Policy", kContentSecurityPolicy);
  r.SetHeader("X-Content-Type-Options", "nosniff");
  r.SetHeader("X-Frame-Options", "DENY");
  r.SetHeader("Referrer-Policy", "no-referrer");
  r.SetHeader("Cross-Origin-Opener-Policy", "same-origin");
  r.SetHeader("Cross-Origin-Resource-Policy", "same-origin");
  return r;
}

Route StaticRoute(std::string path, std::string name, std::function<http::Response(RequestContext&)> handler) {
  Route r{"GET", std::move(path), std::move(name), Access::kAnyone, ModelFrom::kNone, {}, {}, std::move(handler)};
  r.credentials = Credentials::kNone;
  return r;
}

}  // namespace

std::string_view ContentTypeFor(std::string_view path) {
  if (EndsWith(path, ".html")) return "text/html; charset=utf-8";
  if (EndsWith(path, ".js") || EndsWith(path, ".mjs")) return "text/javascript; charset=utf-8";
  if (EndsWith(path, ".css")) return "text/css; charset=utf-8";
  if (EndsWith(path, ".svg")) return "image/svg+xml";
  if (EndsWith(path, ".json")) return "application/json";
  if (EndsWith(path, ".png")) return "image/png";
  if (EndsWith(path, ".txt") || EndsWith(path, ".md")) return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

void AddUiRoutes(Router& router) {
  const std::string base = fmt::format("/ui/{}", ui::WebAssetsVersion());
  std::string shell;
  for (const ui::WebAsset& asset : ui::WebAssets()) {
    if (asset.path == kShellPath) {
      shell = std::string(asset.bytes);
      continue;
    }
    router.Add(StaticRoute(base + std::string(asset.path), "ui.asset", [asset](RequestContext&) {
      http::Response r;
      r.content_type = std::string(ContentTypeFor(asset.path));
      r.body = std::string(asset.bytes);
      // The version in the URL changes with any file, so a URL's bytes never do.
      r.SetHeader("Cache-Control", "public, max-age=31536000, immutable");
      return Secured(std::move(r));
    }));
  }
  for (size_t at = shell.find(kBasePlaceholder); at != std::string::npos;
       at = shell.find(kBasePlaceholder, at + base.size())) {
    shell.replace(at, kBasePlaceholder.size(), base);
  }
  for (const char* page : kPages) {
    router.Add(StaticRoute(page, "ui.page", [shell](RequestContext&) {
      http::Response r;
      r.content_type = "text/html; charset=utf-8";
      r.body = shell;
      r.SetHeader("Cache-Control", "no-cache");
      return Secured(std::move(r));
    }));
  }
}

}  // namespace aperture
