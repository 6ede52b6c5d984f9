#include "http/response_writer.h"

#include <gtest/gtest.h>

namespace aperture::http {
namespace {

bool Contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

TEST(ResponseWriterTest, WritesLengthFramedHead) {
  Response response;
  response.status = 404;
  response.SetHeader("X-Request-Id", "abc");
  std::string out;
  AppendResponseHead(response, 11, BodyFraming::kLength, 17, true, &out);
  EXPECT_EQ(out.rfind("HTTP/1.1 404 Not Found\r\n", 0), 0u);
  EXPECT_TRUE(Contains(out, "\r\nServer: aperture\r\n"));
  EXPECT_TRUE(Contains(out, "\r\nDate: "));
  EXPECT_TRUE(Contains(out, "\r\nContent-Type: application/json\r\n"));
  EXPECT_TRUE(Contains(out, "\r\nContent-Length: 17\r\n"));
  EXPECT_TRUE(Contains(out, "\r\nX-Request-Id: abc\r\n"));
  EXPECT_FALSE(Contains(out, "Connection:"));
  EXPECT_EQ(out.substr(out.size() - 4), "\r\n\r\n");
}

TEST(ResponseWriterTest, ConnectionHeaderFollowsVersionAndKeepAlive) {
  Response response;
  std::string out;
  AppendResponseHead(response, 11, BodyFraming::kLength, 0, false, &out);
  EXPECT_TRUE(Contains(out, "\r\nConnection: close\r\n"));
  out.clear();
  AppendResponseHead(response, 10, BodyFraming::kLength, 0, true, &out);
  EXPECT_EQ(out.rfind("HTTP/1.0 200 OK\r\n", 0), 0u);
  EXPECT_TRUE(Contains(out, "\r\nConnection: keep-alive\r\n"));
}

TEST(ResponseWriterTest, ServerOwnsFramingHeaders) {
  Response response;
  response.SetHeader("Content-Length", "999").SetHeader("Transfer-Encoding", "gzip");
  response.SetHeader("connection", "close");
  std::string out;
  AppendResponseHead(response, 11, BodyFraming::kChunked, 0, true, &out);
  EXPECT_TRUE(Contains(out, "\r\nTransfer-Encoding: chunked\r\n"));
  EXPECT_FALSE(Contains(out, "999"));
  EXPECT_FALSE(Contains(out, "gzip"));
  EXPECT_TRUE(WantsClose(response));
}

TEST(ResponseWriterTest, NoBodyStatusesHaveNoLength) {
  Response response;
  response.status = 204;
  std::string out;
  AppendResponseHead(response, 11, BodyFraming::kNone, 0, true, &out);
  EXPECT_FALSE(Contains(out, "Content-Length"));
  EXPECT_FALSE(Contains(out, "Content-Type"));
  EXPECT_TRUE(StatusHasNoBody(204));
  EXPECT_TRUE(StatusHasNoBody(304));
  EXPECT_FALSE(StatusHasNoBody(200));
}

TEST(ResponseWriterTest, RejectsHeaderInjection) {
  Response response;
  response.SetHeader("X-Ok", "fine");
  EXPECT_EQ(CheckResponseHeaders(response), "");
  response.SetHeader("X-Evil", "a\r\nSet-Cookie: x=y");
  EXPECT_NE(CheckResponseHeaders(response), "");
  Response bad_name;
  bad_name.SetHeader("X Bad", "v");
  EXPECT_NE(CheckResponseHeaders(bad_name), "");
}

TEST(ResponseWriterTest, ChunkSizeIsHex) {
  std::string out;
  AppendChunkSize(255, &out);
  EXPECT_EQ(out, "ff\r\n");
}

}  // namespace
}  // namespace aperture::http
