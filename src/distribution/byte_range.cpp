#include "distribution/byte_range.h"

#include <optional>

#include "fmt/format.h"

namespace aperture::distribution {
namespace {

constexpr size_t kMaxDigits = 19;  // below 2^63

bool IsSpace(char c) { return c == ' ' || c == '\t'; }

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsSpace(s.back())) s.remove_suffix(1);
  return s;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

// A decimal of 1 to 19 digits; nullopt otherwise.
std::optional<uint64_t> Number(std::string_view s) {
  if (s.empty() || s.size() > kMaxDigits) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

RangeRequest Malformed(std::string message) {
  RangeRequest r;
  r.kind = RangeKind::kMalformed;
  r.error = std::move(message);
  return r;
}

}  // namespace

RangeRequest ParseRange(std::string_view header, uint64_t size) {
  header = Trim(header);
  const size_t eq = header.find('=');
  if (eq == std::string_view::npos) {
    return Malformed("the Range header must look like 'bytes=first-last', 'bytes=first-' or 'bytes=-suffix'");
  }
  // Another unit (a token we do not know) is ignored: the whole file is sent.
  if (!IEquals(Trim(header.substr(0, eq)), "bytes")) return RangeRequest{};
  std::string_view spec = Trim(header.substr(eq + 1));
  if (spec.find(',') != std::string_view::npos) {
    return Malformed("only a single range is served; ask for each range in its own request");
  }
  const size_t dash = spec.find('-');
  if (dash == std::string_view::npos) {
    return Malformed("a byte range needs a '-': 'bytes=first-last', 'bytes=first-' or 'bytes=-suffix'");
  }
  const std::string_view first_text = Trim(spec.substr(0, dash));
  const std::string_view last_text = Trim(spec.substr(dash + 1));
  RangeRequest r;
  if (first_text.empty()) {
    // bytes=-N: the last N bytes.
    std::optional<uint64_t> suffix = Number(last_text);
    if (!suffix) return Malformed("'bytes=-N' needs N as a decimal number of at most 19 digits");
    if (*suffix == 0 || size == 0) {
      r.kind = RangeKind::kUnsatisfiable;
      return r;
    }
    r.kind = RangeKind::kSatisfiable;
    r.first = *suffix >= size ? 0 : size - *suffix;
    r.last = size - 1;
    return r;
  }
  std::optional<uint64_t> first = Number(first_text);
  if (!first) return Malformed("the first byte of a range must be a decimal number of at most 19 digits");
  std::optional<uint64_t> last;
  if (!last_text.empty()) {
    last = Number(last_text);
    if (!last) return Malformed("the last byte of a range must be a decimal number of at most 19 digits");
    if (*last < *first) return Malformed(fmt::format("the range {}-{} ends before it starts", *first, *last));
  }
  if (*first >= size) {
    r.kind = RangeKind::kUnsatisfiable;
    return r;
  }
  r.kind = RangeKind::kSatisfiable;
  r.first = *first;
  r.last = last && *last < size ? *last : size - 1;
  return r;
}

std::string ContentRange(const RangeRequest& range, uint64_t size) {
  if (range.kind == RangeKind::kSatisfiable) return fmt::format("bytes {}-{}/{}", range.first, range.last, size);
  return fmt::format("bytes */{}", size);
}

std::string StrongEtag(std::string_view sha256_hex) { return fmt::format("\"{}\"", sha256_hex); }

bool IfRangeAllows(std::string_view if_range, std::string_view current_etag) {
  if_range = Trim(if_range);
  // A strong comparison: "W/" tags never match, nor does a date.
  return !if_range.empty() && if_range.front() == '"' && if_range == current_etag;
}

}  // namespace aperture::distribution
