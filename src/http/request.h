// An HTTP request as the rest of Aperture sees it: no Beast types leak past src/http.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aperture::http {

struct Request {
  std::string method;                                        // "GET", "POST", ...
  std::string target;                                        // as sent: path and query
  std::string path;                                          // target without the query, percent-decoding not applied
  std::vector<std::pair<std::string, std::string>> query;    // decoded name=value pairs, in order
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased, in order
  std::string body;
  std::string remote_address;  // client IP, no port

  // The value of a header (name in any case); nullopt if absent.
  std::optional<std::string_view> Header(std::string_view name) const;
  // The value of a query parameter; nullopt if absent.
  std::optional<std::string_view> Query(std::string_view name) const;
};

}  // namespace aperture::http
