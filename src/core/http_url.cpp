#include "core/http_url.h"

#include <cctype>
#include <charconv>

#include "fmt/format.h"

namespace aperture {
namespace {

constexpr size_t kMaxUrl = 2048;

bool HostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

bool PathChar(char c) {
  // Unreserved and sub-delims of RFC 3986, '/', ':', '@' and '%'-escapes.
  return HostChar(c) || c == '_' || c == '~' || c == '/' || c == ':' || c == '@' || c == '%' || c == '!' || c == '$' ||
         c == '&' || c == '\'' || c == '(' || c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=';
}

absl::Status Bad(std::string_view url, std::string_view why) {
  return absl::InvalidArgumentError(fmt::format("backend URL '{}' {}", url.substr(0, 200), why));
}

}  // namespace

std::string HttpUrl::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}{}", v6 ? "[" : "", host, v6 ? "]" : "", port, prefix);
}

absl::StatusOr<HttpUrl> ParseHttpUrl(std::string_view url) {
  if (url.size() > kMaxUrl) return Bad(url, fmt::format("is longer than {} bytes", kMaxUrl));
  if (url.starts_with("https://")) {
    return Bad(url, "uses https: Aperture speaks plain http to backends (put TLS in a sidecar, docs/deploy.md)");
  }
  if (!url.starts_with("http://")) return Bad(url, "must start with http://");
  std::string_view rest = url.substr(7);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view() : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return Bad(url, "has credentials in it; give the backend's token in an environment variable (api_key_env)");
  }
  if (path.find_first_of("?#") != std::string_view::npos) return Bad(url, "must not have a query or fragment");
  HttpUrl out;
  std::string_view port_text;
  if (authority.starts_with('[')) {
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return Bad(url, "has an unclosed '[' in its host");
    out.host = std::string(authority.substr(1, close - 1));
    for (char c : out.host) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) {
        return Bad(url, "has an IPv6 address with a character that has no place in one");
      }
    }
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad(url, "has something after its IPv6 address that is not ':PORT'");
      port_text = after.substr(1);
      if (port_text.empty()) return Bad(url, "has an empty port");
    }
  } else {
    const size_t colon = authority.find(':');
    out.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
      if (port_text.empty()) return Bad(url, "has an empty port");
    }
    for (char c : out.host) {
      if (!HostChar(c)) return Bad(url, "has a host name with a character other than letters, digits, '-' or '.'");
    }
    if (out.host.size() > 253) return Bad(url, "has a host name longer than 253 bytes");
  }
  if (out.host.empty()) return Bad(url, "names no host");
  if (!port_text.empty()) {
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 || port > 65535) {
      return Bad(url, "has a port that is not a number from 1 to 65535");
    }
    out.port = static_cast<uint16_t>(port);
  }
  for (char c : path) {
    if (!PathChar(c)) return Bad(url, "has a path with a character that must be escaped");
  }
  while (path.ends_with('/')) path.remove_suffix(1);
  if (path.ends_with("/v1")) {
    return Bad(url, "ends with /v1: give the server's base URL; Aperture adds /v1/chat/completions itself");
  }
  out.prefix = std::string(path);
  return out;
}

}  // namespace aperture
