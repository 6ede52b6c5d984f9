#include "engine/sampling/stop_sequences.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace aperture::engine {
namespace {

TEST(StopSequencesTest, PassesTextThroughWhenNothingMatches) {
  StopSequences s({"STOP"});
  auto r = s.Push("hello ");
  EXPECT_EQ(r.emit, "hello ");
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(s.Push("world").emit, "world");
  EXPECT_EQ(s.Flush(), "");
}

TEST(StopSequencesTest, StopSpanningChunksIsCaughtAndNothingOfItLeaks) {
  StopSequences s({"</answer>"});
  std::string out;
  auto r = s.Push("42 </an");
  out += r.emit;
  EXPECT_EQ(r.emit, "42 ");
  EXPECT_EQ(s.held_back(), 4u);
  r = s.Push("swer");
  out += r.emit;
  EXPECT_EQ(r.emit, "");
  r = s.Push("> trailing");
  out += r.emit;
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.stop_index, 0u);
  EXPECT_EQ(out, "42 ");
  EXPECT_EQ(s.Push("more").emit, "");
  EXPECT_EQ(s.Flush(), "");
}

TEST(StopSequencesTest, FalseStartIsReleased) {
  StopSequences s({"\n\nUser:"});
  EXPECT_EQ(s.Push("a\n").emit, "a");
  EXPECT_EQ(s.Push("\nUs").emit, "");
  auto r = s.Push("ually");
  EXPECT_EQ(r.emit, "\n\nUsually");
  EXPECT_FALSE(r.stopped);
}

TEST(StopSequencesTest, HeldBackTextIsFlushedAtTheEnd) {
  StopSequences s({"ABC"});
  EXPECT_EQ(s.Push("xxAB").emit, "xx");
  EXPECT_EQ(s.Flush(), "AB");
}

TEST(StopSequencesTest, EarliestStopWinsAndIndexIsReported) {
  StopSequences s({"", "world", "lo w"});
  auto r = s.Push("hello world");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "hel");
  EXPECT_EQ(r.stop_index, 2u);
}

TEST(StopSequencesTest, MultiByteStopAcrossCharacterChunks) {
  StopSequences s({"🦙!"});
  EXPECT_EQ(s.Push("ok 🦙").emit, "ok ");
  auto r = s.Push("!");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "");
}

TEST(StopSequencesTest, StopInsideASingleChunk) {
  StopSequences s({"\n"});
  auto r = s.Push("line one\nline two");
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.emit, "line one");
}

}  // namespace
}  // namespace aperture::engine
