#include "http/test_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <limits>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "core/ascii.h"
#include "fmt/format.h"

namespace aperture::http {
namespace {

namespace bhttp = boost::beast::http;

}  // namespace

std::optional<std::string> TestResponse::Header(std::string_view name) const {
  std::string lower = AsciiLower(name);
  for (const auto& [key, value] : headers) {
    if (key == lower) return value;
  }
  return std::nullopt;
}

std::unique_ptr<TestClient> TestClient::Connect(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return nullptr;
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    ::close(fd);
    return nullptr;
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return std::unique_ptr<TestClient>(new TestClient(fd));
}

TestClient::~TestClient() { Close(); }

void TestClient::Close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

bool TestClient::Send(std::string_view bytes) {
  while (!bytes.empty()) {
    if (fd_ < 0) return false;
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::string TestClient::FormatRequest(std::string_view method, std::string_view target, std::string_view body,
                                      const std::vector<std::string>& header_lines) {
  std::string request = fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1\r\n", method, target);
  for (const std::string& line : header_lines) {
    request += line;
    request += "\r\n";
  }
  if (!body.empty()) request += fmt::format("Content-Length: {}\r\n", body.size());
  request += "\r\n";
  request += body;
  return request;
}

bool TestClient::SendRequest(std::string_view method, std::string_view target, std::string_view body,
                             const std::vector<std::string>& header_lines) {
  return Send(FormatRequest(method, target, body, header_lines));
}

int TestClient::ReadSome(std::chrono::steady_clock::time_point deadline) {
  if (fd_ < 0) return 0;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() < 0) return -1;
    pollfd p{fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, static_cast<int>(left.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) return -1;
    char buf[16 * 1024];
    ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return 0;
    pending_.append(buf, static_cast<size_t>(n));
    return static_cast<int>(n);
  }
}

std::optional<TestResponse> TestClient::ReadResponse(std::chrono::milliseconds timeout, bool head) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.eager(true);
  parser.skip(head);
  // No limit, but not boost::none: Boost 1.74 compares a Content-Length
  // against an absent limit as if the limit were below it.
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::beast::error_code ec;
  for (;;) {
    if (!pending_.empty()) {
      size_t used = parser.put(boost::asio::buffer(pending_), ec);
      pending_.erase(0, used);
      if (ec == bhttp::error::need_more) {
        ec = {};
      } else if (ec) {
        return std::nullopt;
      }
      if (parser.is_done()) break;
      if (used > 0 && !pending_.empty()) continue;
    }
    int n = ReadSome(deadline);
    if (n < 0) return std::nullopt;
    if (n == 0) {
      // EOF: complete only if the body ran until the close.
      if (!parser.got_some()) return std::nullopt;
      parser.put_eof(ec);
      if (ec || !parser.is_done()) return std::nullopt;
      break;
    }
  }
  TestResponse response;
  auto& message = parser.get();
  response.status = static_cast<int>(message.result_int());
  for (const auto& field : message) {
    response.headers.emplace_back(AsciiLower({field.name_string().data(), field.name_string().size()}),
                                  std::string(field.value()));
  }
  response.body = std::move(message.body());
  response.chunked = parser.chunked();
  response.keep_alive = parser.keep_alive();
  return response;
}

bool TestClient::ReadUntil(std::string_view needle, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pending_.find(needle) == std::string::npos) {
    if (ReadSome(deadline) <= 0) return false;
  }
  return true;
}

bool TestClient::ReadAtLeast(size_t bytes, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (pending_.size() < bytes) {
    if (ReadSome(deadline) <= 0) return false;
  }
  return true;
}

bool TestClient::WaitForClose(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int n = ReadSome(deadline);
    if (n == 0) return true;
    if (n < 0) return false;
    pending_.clear();
  }
}

}  // namespace aperture::http
