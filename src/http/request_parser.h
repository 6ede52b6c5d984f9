// Incremental parser for one HTTP/1.x request, built on Beast's basic_parser:
// it writes straight into a reused Request (header names lower-cased, target
// split into path and decoded query) and refuses, while the header is still
// being read, anything that makes the request ambiguous: repeated
// credentials or framing headers, Content-Length together with
// Transfer-Encoding, a transfer coding other than chunked, a missing Host, a
// header value that is not UTF-8, a target that is not ASCII.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include <boost/beast/http/basic_parser.hpp>

#include "http/request.h"

namespace aperture::http {

// Not thread-safe: one parser per request, used on its connection's strand.
class RequestParser : public boost::beast::http::basic_parser<true> {
 public:
  // Resets *request (keeping its storage for reuse) and parses into it. The
  // limits are those of ServerOptions; Beast reports going over them as
  // http::error::header_limit and http::error::body_limit.
  RequestParser(Request* request, size_t max_header_bytes, size_t max_body_bytes);

  // 10 for HTTP/1.0, 11 for HTTP/1.1; valid once the request line is parsed.
  int version() const { return version_; }
  // The client sent "Expect: 100-continue" and waits before sending the body.
  bool expects_continue() const { return expects_continue_; }
  // Why the request was refused when parsing stopped on one of the rules
  // above (the reply is a 400 with this message); empty otherwise.
  const std::string& rule_error() const { return rule_error_; }

 private:
  void on_request_impl(boost::beast::http::verb method, boost::beast::string_view method_str,
                       boost::beast::string_view target, int version, boost::beast::error_code& ec) override;
  void on_response_impl(int code, boost::beast::string_view reason, int version, boost::beast::error_code& ec) override;
  void on_field_impl(boost::beast::http::field name, boost::beast::string_view name_string,
                     boost::beast::string_view value, boost::beast::error_code& ec) override;
  void on_header_impl(boost::beast::error_code& ec) override;
  void on_body_init_impl(boost::optional<std::uint64_t> const& content_length, boost::beast::error_code& ec) override;
  std::size_t on_body_impl(boost::beast::string_view body, boost::beast::error_code& ec) override;
  void on_chunk_header_impl(std::uint64_t size, boost::beast::string_view extensions,
                            boost::beast::error_code& ec) override;
  std::size_t on_chunk_body_impl(std::uint64_t remain, boost::beast::string_view body,
                                 boost::beast::error_code& ec) override;
  void on_finish_impl(boost::beast::error_code& ec) override;

  void Refuse(std::string message, boost::beast::error_code& ec);

  Request* request_;
  size_t header_count_ = 0;
  unsigned seen_ = 0;  // bit set of the single-instance headers already seen
  int version_ = 11;
  bool expects_continue_ = false;
  std::string rule_error_;
};

}  // namespace aperture::http
