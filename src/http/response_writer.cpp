#include "http/response_writer.h"

#include <charconv>
#include <ctime>

#include "core/ascii.h"
#include "fmt/format.h"

namespace aperture::http {
namespace {

bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// Headers whose value the server decides; a handler's copy would contradict
// the framing actually used.
bool ServerOwned(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection");
}

// The Date header value, formatted once per second per thread.
std::string_view HttpDate() {
  thread_local std::time_t cached_second = -1;
  thread_local char cached[64];
  thread_local size_t cached_size = 0;
  std::time_t now = std::time(nullptr);
  if (now != cached_second) {
    std::tm tm;
    gmtime_r(&now, &tm);
    cached_size = std::strftime(cached, sizeof(cached), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached_second = now;
  }
  return {cached, cached_size};
}

void AppendNumber(size_t value, std::string* out) {
  char buf[24];
  auto result = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, result.ptr);
}

}  // namespace

bool StatusHasNoBody(int status) { return (status >= 100 && status < 200) || status == 204 || status == 304; }

std::string_view ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 414:
      return "URI Too Long";
    case 415:
      return "Unsupported Media Type";
    case 416:
      return "Range Not Satisfiable";
    case 417:
      return "Expectation Failed";
    case 422:
      return "Unprocessable Content";
    case 428:
      return "Precondition Required";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 451:
      return "Unavailable For Legal Reasons";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string CheckResponseHeaders(const Response& response) {
  for (const auto& [name, value] : response.headers) {
    bool name_ok = !name.empty();
    for (char c : name) name_ok = name_ok && IsTokenChar(c);
    if (!name_ok) return fmt::format("invalid response header name '{}'", name.substr(0, 100));
    for (char c : value) {
      if (c == '\r' || c == '\n' || c == '\0') {
        return fmt::format("response header '{}' has a CR, LF or NUL in its value", name);
      }
    }
  }
  for (char c : response.content_type) {
    if (c == '\r' || c == '\n' || c == '\0') return "Content-Type has a CR, LF or NUL";
  }
  return {};
}

void AppendResponseHead(const Response& response, int version, BodyFraming framing, size_t body_length, bool keep_alive,
                        std::string* out) {
  int status = (response.status >= 100 && response.status <= 999) ? response.status : 500;
  out->append(version >= 11 ? "HTTP/1.1 " : "HTTP/1.0 ");
  AppendNumber(static_cast<size_t>(status), out);
  out->push_back(' ');
  out->append(ReasonPhrase(status));
  out->append("\r\nServer: aperture\r\nDate: ");
  out->append(HttpDate());
  out->append("\r\n");
  if (!response.content_type.empty() && framing != BodyFraming::kNone) {
    out->append("Content-Type: ");
    out->append(response.content_type);
    out->append("\r\n");
  }
  switch (framing) {
    case BodyFraming::kLength:
      out->append("Content-Length: ");
      AppendNumber(body_length, out);
      out->append("\r\n");
      break;
    case BodyFraming::kChunked:
      out->append("Transfer-Encoding: chunked\r\n");
      break;
    case BodyFraming::kUntilClose:
    case BodyFraming::kNone:
      break;
  }
  if (!keep_alive) {
    out->append("Connection: close\r\n");
  } else if (version < 11) {
    out->append("Connection: keep-alive\r\n");
  }
  for (const auto& [name, value] : response.headers) {
    if (ServerOwned(name)) continue;
    out->append(name);
    out->append(": ");
    out->append(value);
    out->append("\r\n");
  }
  out->append("\r\n");
}

void AppendChunkSize(size_t size, std::string* out) {
  char buf[24];
  auto result = std::to_chars(buf, buf + sizeof(buf), size, 16);
  out->append(buf, result.ptr);
  out->append("\r\n");
}

bool WantsClose(const Response& response) {
  for (const auto& [name, value] : response.headers) {
    if (EqualsIgnoreCase(name, "connection") && EqualsIgnoreCase(value, "close")) return true;
  }
  return false;
}

}  // namespace aperture::http
