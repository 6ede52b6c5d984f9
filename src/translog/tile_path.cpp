#include "translog/tile_path.h"

#include <charconv>
#include <vector>

#include "fmt/format.h"

namespace aperture::translog {
namespace {

std::string IndexPath(int64_t n) {
  std::string out = fmt::format("{:03d}", n % 1000);
  for (n /= 1000; n > 0; n /= 1000) out = fmt::format("x{:03d}/{}", n % 1000, out);
  return out;
}

bool ParseSmall(std::string_view s, int64_t max, int64_t& out) {
  if (s.empty() || (s.size() > 1 && s[0] == '0')) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && out >= 0 && out <= max;
}

absl::Status Bad(std::string_view path) {
  return absl::InvalidArgumentError(
      fmt::format("'{}' is not a tile path (tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>])", path));
}

}  // namespace

std::string TilePath(const TileRef& t) {
  std::string out = t.entries ? "tile/entries/" : fmt::format("tile/{}/", t.level);
  out += IndexPath(t.index);
  if (t.width < kTileWidth) out += fmt::format(".p/{}", t.width);
  return out;
}

absl::StatusOr<TileRef> ParseTilePath(std::string_view path) {
  std::vector<std::string_view> parts;
  for (size_t start = 0;;) {
    const size_t slash = path.find('/', start);
    parts.push_back(path.substr(start, slash == std::string_view::npos ? slash : slash - start));
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  if (parts.size() < 3 || parts[0] != "tile") return Bad(path);
  TileRef t;
  size_t i = 1;
  if (parts[1] == "entries") {
    t.entries = true;
  } else {
    int64_t level = 0;
    if (!ParseSmall(parts[1], 63, level)) return Bad(path);
    t.level = static_cast<int>(level);
  }
  ++i;
  // A partial tile ends in "<NNN>.p/<W>".
  size_t last = parts.size() - 1;
  if (parts.size() >= 4 && parts[last - 1].ends_with(".p")) {
    int64_t width = 0;
    if (!ParseSmall(parts[last], kTileWidth - 1, width) || width == 0) return Bad(path);
    t.width = static_cast<int>(width);
    parts[last - 1].remove_suffix(2);
    --last;
  }
  if (i > last || last - i >= 6) return Bad(path);  // at most 6 elements: N < 10^18
  int64_t index = 0;
  for (; i <= last; ++i) {
    std::string_view e = parts[i];
    if (i < last) {
      if (!e.starts_with('x')) return Bad(path);
      e.remove_prefix(1);
    }
    if (e.size() != 3) return Bad(path);
    for (char c : e) {
      if (c < '0' || c > '9') return Bad(path);
    }
    index = index * 1000 + (e[0] - '0') * 100 + (e[1] - '0') * 10 + (e[2] - '0');
  }
  t.index = index;
  // Only the canonical spelling (no "x000/" prefix) names a tile.
  if (TilePath(t) != path) return Bad(path);
  return t;
}

}  // namespace aperture::translog
