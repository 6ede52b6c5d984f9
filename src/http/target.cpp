#include "http/target.h"

#include <string>

#include "core/ascii.h"
#include "core/utf8.h"
#include "fmt/format.h"

namespace aperture::http {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

bool PercentDecode(std::string_view in, bool plus_is_space, std::string* out) {
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = HexValue(in[i + 1]);
      int lo = HexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out->push_back(' ');
    } else {
      out->push_back(c);
    }
  }
  return true;
}

absl::Status ParseTarget(std::string_view target, std::string* path,
                         std::vector<std::pair<std::string, std::string>>* query) {
  // A URI is ASCII (RFC 3986); other bytes must arrive percent-encoded.
  for (size_t i = 0; i < target.size(); ++i) {
    const auto byte = static_cast<unsigned char>(target[i]);
    if (byte < 0x21 || byte > 0x7e) {
      return absl::InvalidArgumentError(fmt::format(
          "the request target holds the byte 0x{:02X} at offset {}: only ASCII is allowed, percent-encode other "
          "bytes",
          byte, i));
    }
  }
  // A fragment is never meant for the server; drop it rather than refuse.
  if (size_t hash = target.find('#'); hash != std::string_view::npos) {
    target = target.substr(0, hash);
  }
  if (target == "*") {
    path->assign("*");
    query->clear();
    return absl::OkStatus();
  }
  bool absolute = false;
  if (StartsWithIgnoreCase(target, "http://") || StartsWithIgnoreCase(target, "https://")) {
    // Absolute form: servers must accept it (RFC 9112 3.2.2); keep only what
    // follows the authority ("http://h?q" has the path "/").
    size_t authority = target.find("//") + 2;
    size_t slash = target.find_first_of("/?", authority);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    absolute = true;
  }
  if (target.empty() || (target.front() != '/' && !(absolute && target.front() == '?'))) {
    return absl::InvalidArgumentError(
        fmt::format("unsupported request target '{}': expected a path starting with '/'", target.substr(0, 200)));
  }
  size_t qmark = target.find('?');
  std::string_view raw_path = target.substr(0, qmark);
  if (raw_path.empty()) raw_path = "/";
  path->assign(raw_path.data(), raw_path.size());

  size_t count = 0;
  if (qmark != std::string_view::npos) {
    std::string_view rest = target.substr(qmark + 1);
    while (!rest.empty()) {
      size_t amp = rest.find('&');
      std::string_view segment = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (segment.empty()) continue;
      size_t eq = segment.find('=');
      std::string_view name = segment.substr(0, eq);
      std::string_view value = eq == std::string_view::npos ? std::string_view() : segment.substr(eq + 1);
      // Reuse the strings already in *query to keep their capacity.
      if (count == query->size()) query->emplace_back();
      auto& [out_name, out_value] = (*query)[count++];
      out_name.clear();
      out_value.clear();
      if (!PercentDecode(name, true, &out_name) || !PercentDecode(value, true, &out_value)) {
        query->resize(count - 1);
        return absl::InvalidArgumentError(
            fmt::format("malformed percent-escape in query parameter '{}': '%' must be followed by two "
                        "hex digits",
                        segment.substr(0, 200)));
      }
      if (!IsValidUtf8(out_name) || !IsValidUtf8(out_value)) {
        query->resize(count - 1);
        return absl::InvalidArgumentError(
            fmt::format("query parameter '{}' is not valid UTF-8 once percent-decoded", segment.substr(0, 200)));
      }
    }
  }
  query->resize(count);
  return absl::OkStatus();
}

}  // namespace aperture::http
