#include "http/request.h"

namespace aperture::http {
namespace {

// Stored names are lower-case already; only `name` needs folding.
bool EqualsLowered(std::string_view lower, std::string_view name) {
  if (lower.size() != name.size()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != lower[i]) return false;
  }
  return true;
}

}  // namespace

std::optional<std::string_view> Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (EqualsLowered(key, name)) return std::string_view(value);
  }
  return std::nullopt;
}

std::optional<std::string_view> Request::Query(std::string_view name) const {
  for (const auto& [key, value] : query) {
    if (key == name) return std::string_view(value);
  }
  return std::nullopt;
}

}  // namespace aperture::http
