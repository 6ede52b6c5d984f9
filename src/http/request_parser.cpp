#include "http/request_parser.h"

#include <algorithm>
#include <limits>
#include <string_view>
#include <utility>

#include <boost/beast/http/error.hpp>

#include "core/ascii.h"
#include "core/utf8.h"
#include "fmt/format.h"
#include "http/target.h"

namespace aperture::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;

std::string_view View(beast::string_view s) { return {s.data(), s.size()}; }

// Headers that must appear at most once: a second copy is how credentials
// get shadowed and how request smuggling splits one message into two.
constexpr unsigned kAuthorization = 1u << 0;
constexpr unsigned kProxyAuthorization = 1u << 1;
constexpr unsigned kContentLength = 1u << 2;
constexpr unsigned kHost = 1u << 3;
constexpr unsigned kTransferEncoding = 1u << 4;

unsigned SingleInstanceBit(bhttp::field f) {
  switch (f) {
    case bhttp::field::authorization:
      return kAuthorization;
    case bhttp::field::proxy_authorization:
      return kProxyAuthorization;
    case bhttp::field::content_length:
      return kContentLength;
    case bhttp::field::host:
      return kHost;
    case bhttp::field::transfer_encoding:
      return kTransferEncoding;
    default:
      return 0;
  }
}

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

}  // namespace

RequestParser::RequestParser(Request* request, size_t max_header_bytes, size_t max_body_bytes) : request_(request) {
  header_limit(
      static_cast<std::uint32_t>(std::min<size_t>(max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
  body_limit(static_cast<std::uint64_t>(max_body_bytes));
  // Strings are cleared, not freed, so a keep-alive connection reuses them.
  request_->method.clear();
  request_->target.clear();
  request_->path.clear();
  request_->body.clear();
}

void RequestParser::Refuse(std::string message, beast::error_code& ec) {
  rule_error_ = std::move(message);
  ec = bhttp::error::bad_field;
}

void RequestParser::on_request_impl(bhttp::verb, beast::string_view method_str, beast::string_view target, int version,
                                    beast::error_code& ec) {
  request_->method.assign(method_str.data(), method_str.size());
  request_->target.assign(target.data(), target.size());
  version_ = version;
}

void RequestParser::on_response_impl(int, beast::string_view, int, beast::error_code& ec) {
  ec = bhttp::error::bad_version;  // never called for a request parser
}

void RequestParser::on_field_impl(bhttp::field name, beast::string_view name_string, beast::string_view value,
                                  beast::error_code& ec) {
  std::string_view v = View(value);
  // Header values reach messages, records and handlers as text: bytes that
  // are not UTF-8 (HTTP's obsolete Latin-1 "obs-text") are refused here,
  // once, for every header.
  if (!IsValidUtf8(v)) {
    return Refuse(fmt::format("the {} header is not valid UTF-8", View(name_string)), ec);
  }
  if (unsigned bit = SingleInstanceBit(name); bit != 0) {
    if (seen_ & bit) {
      return Refuse(fmt::format("duplicate {} header: a request may carry it only once", View(name_string)), ec);
    }
    seen_ |= bit;
  }
  switch (name) {
    case bhttp::field::transfer_encoding:
      // Only "chunked" frames a request body we can read unambiguously; any
      // other coding would leave the body length unknown.
      if (!EqualsIgnoreCase(v, "chunked")) {
        return Refuse(fmt::format("unsupported Transfer-Encoding '{}': only 'chunked' is accepted", v.substr(0, 100)),
                      ec);
      }
      break;
    case bhttp::field::content_length:
      if (!AllDigits(v)) {
        return Refuse("Content-Length must be a single decimal number", ec);
      }
      break;
    case bhttp::field::expect:
      if (EqualsIgnoreCase(v, "100-continue")) expects_continue_ = true;
      break;
    default:
      break;
  }
  auto& headers = request_->headers;
  if (header_count_ == headers.size()) headers.emplace_back();
  auto& [out_name, out_value] = headers[header_count_++];
  AssignLower(View(name_string), &out_name);
  out_value.assign(v.data(), v.size());
}

void RequestParser::on_header_impl(beast::error_code& ec) {
  request_->headers.resize(header_count_);
  if (version_ >= 11 && !(seen_ & kHost)) {
    return Refuse("missing Host header (required by HTTP/1.1)", ec);
  }
  absl::Status target = ParseTarget(request_->target, &request_->path, &request_->query);
  if (!target.ok()) return Refuse(std::string(target.message()), ec);
}

void RequestParser::on_body_init_impl(boost::optional<std::uint64_t> const& content_length, beast::error_code& ec) {
  // Beast has already checked the length against the body limit. Reserve
  // only a bounded amount up front: a client announcing a large body and
  // then stalling should not pin that much memory.
  constexpr std::uint64_t kMaxReserve = 64 * 1024;
  if (content_length) {
    request_->body.reserve(static_cast<size_t>(std::min(*content_length, kMaxReserve)));
  }
}

std::size_t RequestParser::on_body_impl(beast::string_view body, beast::error_code& ec) {
  request_->body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code& ec) {}

std::size_t RequestParser::on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code& ec) {
  request_->body.append(body.data(), body.size());
  return body.size();
}

void RequestParser::on_finish_impl(beast::error_code& ec) {}

}  // namespace aperture::http
