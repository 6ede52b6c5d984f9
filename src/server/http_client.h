// HttpClient: a small blocking HTTP/1.1 client for the CLI's commands that
// talk to a running server (log verify/mine, eval run --url), keeping its
// connection alive between requests. Not thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "core/json.h"

namespace aperture {

class HttpClient {
 public:
  // `url`: http://host[:port][/prefix]. TLS is not spoken here; put the CLI
  // behind a local TLS-terminating proxy for https servers.
  static absl::StatusOr<std::unique_ptr<HttpClient>> ForUrl(const std::string& url);
  ~HttpClient();

  // The body of a 2xx answer to `method` `target` (path and query after the
  // prefix); any other status is an error carrying the server's message
  // (NotFound for 404).
  absl::StatusOr<std::string> Call(const std::string& method, const std::string& target, const std::string& bearer = "",
                                   const std::string& body = "");
  absl::StatusOr<std::string> Get(const std::string& target, const std::string& bearer = "") {
    return Call("GET", target, bearer);
  }

 private:
  struct Connection;
  HttpClient(std::string host, std::string port, std::string prefix);

  std::string host_, port_, prefix_;
  std::unique_ptr<Connection> connection_;
};

// GET or POST, answered by a JSON object.
absl::StatusOr<Json> CallJson(HttpClient& client, const std::string& method, const std::string& target,
                              const std::string& bearer = "", const Json* body = nullptr);

}  // namespace aperture
