// A small blocking HTTP/1.1 client over a raw TCP socket, for tests: it can
// send arbitrary (also malformed) bytes, read responses with a timeout, and
// tell whether the server closed the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aperture::http {

struct TestResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;                                          // de-chunked
  bool chunked = false;
  bool keep_alive = true;

  std::optional<std::string> Header(std::string_view name) const;
};

// Not thread-safe: one thread uses a client at a time.
class TestClient {
 public:
  // Connects to 127.0.0.1:port; nullptr if the connection fails.
  static std::unique_ptr<TestClient> Connect(uint16_t port);
  ~TestClient();
  TestClient(const TestClient&) = delete;
  TestClient& operator=(const TestClient&) = delete;

  // Writes all of `bytes`; false if the connection is broken.
  bool Send(std::string_view bytes);
  // Sends "METHOD target HTTP/1.1" with Host, the extra header lines (each
  // "Name: value") and a Content-Length body when `body` is non-empty.
  bool SendRequest(std::string_view method, std::string_view target, std::string_view body = {},
                   const std::vector<std::string>& header_lines = {});
  // The bytes SendRequest sends.
  static std::string FormatRequest(std::string_view method, std::string_view target, std::string_view body = {},
                                   const std::vector<std::string>& header_lines = {});
  // Reads one complete response; nullopt on timeout, close before a whole
  // response, or unparsable bytes. `head`: the answer to a HEAD request
  // (its Content-Length announces a body that is not sent).
  std::optional<TestResponse> ReadResponse(std::chrono::milliseconds timeout = std::chrono::seconds(5),
                                           bool head = false);
  // Reads raw bytes until at least `bytes` are pending; false on timeout or close.
  bool ReadAtLeast(size_t bytes, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Reads raw bytes until `needle` has been received; false on timeout or close.
  bool ReadUntil(std::string_view needle, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // Discards incoming bytes until the server closes the connection (EOF or
  // reset): true if that happens within `timeout`.
  bool WaitForClose(std::chrono::milliseconds timeout);
  // Closes our side now.
  void Close();

  // Everything received and not yet consumed by ReadResponse.
  const std::string& pending() const { return pending_; }

 private:
  explicit TestClient(int fd) : fd_(fd) {}
  // Appends what arrives within `timeout` to pending_: >0 bytes read, 0 on
  // EOF or reset, -1 on timeout.
  int ReadSome(std::chrono::steady_clock::time_point deadline);

  int fd_;
  std::string pending_;
};

}  // namespace aperture::http
