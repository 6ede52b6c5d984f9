#include "api/openai/event_stream.h"

#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace aperture {
namespace {

struct Reader {
  std::vector<std::optional<std::string>> got;
  void Ask(EventStream& s) {
    s.Next([this](std::optional<std::string> chunk) { got.push_back(std::move(chunk)); });
  }
};

TEST(EventStreamTest, WithoutANotifierAChunkReachesAWaitingReaderAtOnce) {
  auto s = std::make_shared<EventStream>();
  Reader r;
  r.Ask(*s);
  s->Push("a");
  ASSERT_EQ(r.got.size(), 1u);
  EXPECT_EQ(r.got[0], "a");
  r.Ask(*s);
  s->Finish();
  ASSERT_EQ(r.got.size(), 2u);
  EXPECT_EQ(r.got[1], std::nullopt);
}

TEST(EventStreamTest, ANotifierDeliversEachRoundInOnePostAndJoinsItsChunks) {
  std::vector<std::function<void()>> posted;
  StreamNotifier notifier;
  notifier.Attach([&](std::function<void()> fn) { posted.push_back(std::move(fn)); });
  auto a = std::make_shared<EventStream>(&notifier);
  auto b = std::make_shared<EventStream>(&notifier);
  Reader ra, rb;
  ra.Ask(*a);
  rb.Ask(*b);
  a->Push("1");
  a->Push("2");
  b->Push("x");
  EXPECT_TRUE(ra.got.empty());  // nothing before the flush
  notifier.Flush();
  ASSERT_EQ(posted.size(), 1u);  // one post for both streams
  EXPECT_TRUE(ra.got.empty());   // delivery happens on the network's thread
  posted[0]();
  ASSERT_EQ(ra.got.size(), 1u);
  EXPECT_EQ(ra.got[0], "12");
  ASSERT_EQ(rb.got.size(), 1u);
  EXPECT_EQ(rb.got[0], "x");

  notifier.Flush();  // nothing new: no post
  EXPECT_EQ(posted.size(), 1u);
  ra.Ask(*a);
  a->Push("3");
  a->Finish();
  notifier.Flush();
  ASSERT_EQ(posted.size(), 2u);
  posted[1]();
  ASSERT_EQ(ra.got.size(), 2u);
  EXPECT_EQ(ra.got[1], "3");
  ra.Ask(*a);  // the end follows the last chunk
  ASSERT_EQ(ra.got.size(), 3u);
  EXPECT_EQ(ra.got[2], std::nullopt);
}

TEST(EventStreamTest, BeforeANetworkIsAttachedFlushDeliversInPlace) {
  StreamNotifier notifier;
  auto s = std::make_shared<EventStream>(&notifier);
  Reader r;
  r.Ask(*s);
  s->Push("a");
  EXPECT_TRUE(r.got.empty());
  notifier.Flush();
  ASSERT_EQ(r.got.size(), 1u);
  EXPECT_EQ(r.got[0], "a");
}

TEST(EventStreamTest, ACancelledStreamDropsItsChunks) {
  std::vector<std::function<void()>> posted;
  StreamNotifier notifier;
  notifier.Attach([&](std::function<void()> fn) { posted.push_back(std::move(fn)); });
  auto s = std::make_shared<EventStream>(&notifier);
  int cancelled = 0;
  s->OnCancel([&] { ++cancelled; });
  Reader r;
  r.Ask(*s);
  s->Push("a");
  s->Cancel();
  s->Cancel();
  notifier.Flush();
  for (auto& fn : posted) fn();
  EXPECT_TRUE(r.got.empty());
  EXPECT_EQ(cancelled, 1);
}

}  // namespace
}  // namespace aperture
