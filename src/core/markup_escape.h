// Escapes text for HTML and XML (SVG) content and attribute values: the five
// characters that can end a text or an attribute (& < > " ') become
// entities; every other byte is kept as it is.
#pragma once

#include <string>
#include <string_view>

namespace aperture {

inline std::string EscapeMarkup(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

}  // namespace aperture
