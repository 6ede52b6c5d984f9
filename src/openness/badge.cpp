#include "openness/badge.h"

#include "core/markup_escape.h"
#include "fmt/format.h"

namespace aperture::openness {
namespace {

// About 7 px per character at 11 px Verdana, plus padding.
int Width(std::string_view text) { return static_cast<int>(text.size()) * 7 + 12; }

}  // namespace

std::string OpennessBadge(const MofResult& mof) {
  const std::string label = "MOF";
  std::string value;
  std::string colour;
  if (mof.reached == 0) {
    value = fmt::format("Class III {}%", mof.classes[0].percent);
    colour = "#76b1c9";
  } else {
    static constexpr const char* kRoman[] = {"", "I", "II", "III"};
    value = fmt::format("Class {} {}", kRoman[mof.reached], mof.status);
    colour = "#44cc11";
  }
  const int lw = Width(label), vw = Width(value), w = lw + vw;
  const std::string title = EscapeMarkup(fmt::format("{}: {}", label, value));
  return fmt::format(
      R"(<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="20" role="img" aria-label="{title}">)"
      R"(<title>{title}</title>)"
      R"(<rect width="{lw}" height="20" fill="#555"/><rect x="{lw}" width="{vw}" height="20" fill="{colour}"/>)"
      R"(<g fill="#fff" text-anchor="middle" font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">)"
      R"(<text x="{lx}" y="14">{label}</text><text x="{vx}" y="14">{value}</text></g></svg>)",
      fmt::arg("w", w), fmt::arg("title", title), fmt::arg("lw", lw), fmt::arg("vw", vw), fmt::arg("colour", colour),
      fmt::arg("lx", lw / 2), fmt::arg("vx", lw + vw / 2), fmt::arg("label", EscapeMarkup(label)),
      fmt::arg("value", EscapeMarkup(value)));
}

}  // namespace aperture::openness
