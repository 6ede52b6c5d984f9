#include "backends/sse_parser.h"

#include <gtest/gtest.h>

namespace aperture::backends {
namespace {

std::vector<std::string> All(SseParser& p, std::string_view bytes) {
  std::vector<std::string> events;
  EXPECT_TRUE(p.Feed(bytes, events).ok());
  return events;
}

TEST(SseParserTest, EventsEndAtABlankLineWhateverTheLineEndings) {
  SseParser p(1 << 20);
  EXPECT_EQ(All(p, "data: {\"a\":1}\n\ndata: [DONE]\n\n"), (std::vector<std::string>{"{\"a\":1}", "[DONE]"}));
  EXPECT_EQ(All(p, "data: x\r\n\r\ndata:y\r\rdata: z\n\n"), (std::vector<std::string>{"x", "y", "z"}));
  EXPECT_FALSE(p.in_event());
}

TEST(SseParserTest, PiecesCutAnywhereGiveTheSameEvents) {
  const std::string stream = ": comment\r\nevent: delta\r\ndata: one\r\ndata: two\r\nid: 7\r\n\r\ndata: three\n\n";
  for (size_t cut = 0; cut <= stream.size(); ++cut) {
    SseParser p(1 << 20);
    std::vector<std::string> events;
    ASSERT_TRUE(p.Feed(std::string_view(stream).substr(0, cut), events).ok());
    ASSERT_TRUE(p.Feed(std::string_view(stream).substr(cut), events).ok());
    EXPECT_EQ(events, (std::vector<std::string>{"one\ntwo", "three"})) << "cut at " << cut;
  }
  // One byte at a time, a CRLF split between pieces.
  SseParser p(1 << 20);
  std::vector<std::string> events;
  for (char c : stream) ASSERT_TRUE(p.Feed(std::string_view(&c, 1), events).ok());
  EXPECT_EQ(events, (std::vector<std::string>{"one\ntwo", "three"}));
}

TEST(SseParserTest, MalformedInputIsReadOrRefusedNeverTrustedBeyondTheLimit) {
  SseParser p(1 << 20);
  // Lines without a colon, unknown fields, blank lines between nothing.
  EXPECT_EQ(All(p, "nonsense\nfoo: bar\n\n\n\ndata\n\n"), (std::vector<std::string>{""}));
  // A stream that stops mid-event says so.
  EXPECT_TRUE(All(p, "data: half").empty());
  EXPECT_TRUE(p.in_event());

  SseParser small(16);
  std::vector<std::string> events;
  EXPECT_TRUE(small.Feed("data: 0123456789\n", events).ok());
  absl::Status s = small.Feed("data: 0123456789\n\n", events);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_FALSE(small.Feed("\n", events).ok());  // abandoned for good
  SseParser line(16);
  EXPECT_FALSE(line.Feed(std::string(100, 'x'), events).ok());  // one endless line
}

}  // namespace
}  // namespace aperture::backends
