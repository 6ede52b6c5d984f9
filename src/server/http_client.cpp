#include "server/http_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>

#include "core/status_macros.h"
#include "fmt/format.h"

namespace aperture {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

}  // namespace

struct HttpClient::Connection {
  net::io_context ioc;
  std::optional<beast::tcp_stream> stream;
};

HttpClient::HttpClient(std::string host, std::string port, std::string prefix)
    : host_(std::move(host)), port_(std::move(port)), prefix_(std::move(prefix)), connection_(new Connection) {}

HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::ForUrl(const std::string& url) {
  std::string_view rest = url;
  if (!rest.starts_with("http://")) {
    return absl::InvalidArgumentError(fmt::format("--url must start with http:// (got '{}')", url));
  }
  rest.remove_prefix(7);
  const size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string prefix = slash == std::string_view::npos ? "" : std::string(rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  std::string host(authority), port = "80";
  const size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
    host = std::string(authority.substr(0, colon));
    port = std::string(authority.substr(colon + 1));
  }
  if (!host.empty() && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host.empty() || port.empty()) return absl::InvalidArgumentError(fmt::format("'{}' names no host", url));
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(host), std::move(port), std::move(prefix)));
}

absl::StatusOr<std::string> HttpClient::Call(const std::string& method, const std::string& target,
                                             const std::string& bearer, const std::string& body) {
  const std::string what = fmt::format("{} {}{}", method, prefix_, target);
  auto round_trip = [&]() -> absl::StatusOr<bhttp::response<bhttp::string_body>> {
    beast::error_code ec;
    auto& stream = connection_->stream;
    if (!stream) {
      tcp::resolver resolver(connection_->ioc);
      auto endpoints = resolver.resolve(host_, port_, ec);
      if (ec) return absl::UnavailableError(fmt::format("cannot resolve {}: {}", host_, ec.message()));
      stream.emplace(connection_->ioc);
      stream->expires_after(std::chrono::seconds(30));
      stream->connect(endpoints, ec);
      if (ec) {
        stream.reset();
        return absl::UnavailableError(fmt::format("cannot connect to {}:{}: {}", host_, port_, ec.message()));
      }
    }
    bhttp::request<bhttp::string_body> request{bhttp::string_to_verb(method), prefix_ + target, 11};
    request.set(bhttp::field::host, host_);
    request.set(bhttp::field::user_agent, "aperture-cli");
    if (!bearer.empty()) request.set(bhttp::field::authorization, "Bearer " + bearer);
    if (method != "GET") {
      request.set(bhttp::field::content_type, "application/json");
      request.body() = body;
      request.prepare_payload();
    }
    stream->expires_after(std::chrono::seconds(30));
    bhttp::write(*stream, request, ec);
    if (ec) return absl::UnavailableError(fmt::format("{}: {}", what, ec.message()));
    beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(256u << 20);
    bhttp::read(*stream, buffer, parser, ec);
    if (ec) return absl::UnavailableError(fmt::format("{}: {}", what, ec.message()));
    bhttp::response<bhttp::string_body> response = parser.release();
    if (!response.keep_alive()) stream.reset();
    return response;
  };
  absl::StatusOr<bhttp::response<bhttp::string_body>> response = round_trip();
  if (!response.ok() && connection_->stream) {
    // A kept-alive connection the server closed meanwhile: one fresh try.
    connection_->stream.reset();
    response = round_trip();
  }
  if (!response.ok()) return response.status();
  const int status = response->result_int();
  if (status < 200 || status > 299) {
    std::string message = response->body();
    absl::StatusOr<Json> error = ParseJson(response->body());
    if (error.ok() && error->is_object() && error->contains("error") && (*error)["error"].is_object()) {
      message = (*error)["error"].value("message", message);
    }
    const std::string text = fmt::format("{}: HTTP {}: {}", what, status, message);
    if (status == 404) return absl::NotFoundError(text);
    if (status == 401 || status == 403) return absl::PermissionDeniedError(text);
    if (status >= 400 && status < 500) return absl::FailedPreconditionError(text);
    return absl::UnavailableError(text);
  }
  return std::move(response->body());
}

absl::StatusOr<Json> CallJson(HttpClient& client, const std::string& method, const std::string& target,
                              const std::string& bearer, const Json* body) {
  ASSIGN_OR_RETURN(std::string text, client.Call(method, target, bearer, body ? DumpJson(*body) : ""));
  ASSIGN_OR_RETURN(Json json, ParseJson(text));
  if (!json.is_object()) {
    return absl::DataLossError(fmt::format("{} {}: the answer is not a JSON object", method, target));
  }
  return json;
}

}  // namespace aperture
