#include "filters/route.h"

namespace aperture {
namespace {

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> out;
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    if (slash == std::string_view::npos) slash = path.size();
    out.push_back(path.substr(start, slash - start));
    start = slash + 1;
  }
  return out;
}

}  // namespace

void Router::Add(Route route) {
  Compiled c;
  for (std::string_view s : Split(route.pattern)) c.segments.emplace_back(s);
  c.route = std::move(route);
  routes_.push_back(std::move(c));
}

const Route* Router::Match(std::string_view method, std::string_view path,
                           std::vector<std::pair<std::string, std::string>>& params, bool& method_mismatch) const {
  method_mismatch = false;
  if (path.empty() || path[0] != '/') return nullptr;
  const std::vector<std::string_view> parts = Split(path);
  for (const Compiled& c : routes_) {
    if (c.segments.size() != parts.size()) continue;
    std::vector<std::pair<std::string, std::string>> found;
    bool ok = true;
    for (size_t i = 0; i < parts.size() && ok; ++i) {
      const std::string& seg = c.segments[i];
      if (seg.size() > 2 && seg.front() == '{' && seg.back() == '}') {
        if (parts[i].empty())
          ok = false;
        else
          found.emplace_back(seg.substr(1, seg.size() - 2), std::string(parts[i]));
      } else {
        ok = seg == parts[i];
      }
    }
    if (!ok) continue;
    // HEAD is GET without the body (the server leaves the body out).
    if (c.route.method != method && !(method == "HEAD" && c.route.method == "GET")) {
      method_mismatch = true;
      continue;
    }
    params = std::move(found);
    return &c.route;
  }
  return nullptr;
}

}  // namespace aperture
