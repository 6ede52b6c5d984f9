#include "evals/progress_bar.h"

#include <cstdio>
#include <string>

#include "gtest/gtest.h"

namespace aperture::evals {
namespace {

// Everything written to a temporary FILE*.
class Capture {
 public:
  Capture() : file_(std::tmpfile()) {}
  ~Capture() { std::fclose(file_); }
  FILE* file() { return file_; }
  std::string Text() {
    std::fflush(file_);
    std::rewind(file_);
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof(buf), file_)) > 0) out.append(buf, n);
    return out;
  }

 private:
  FILE* file_;
};

TEST(ProgressBarTest, RendersItemsRateAndEta) {
  EXPECT_EQ(ProgressBar::Render({.done = 120, .total = 1000, .items_per_second = 35.24, .eta_seconds = 25}, 10),
            "[#.........] 120/1000 items  35.2 items/s  ETA 0:25");
  EXPECT_EQ(ProgressBar::Render({.done = 1000, .total = 1000, .items_per_second = 40, .eta_seconds = 0}, 4),
            "[####] 1000/1000 items  40.0 items/s  ETA 0:00");
  EXPECT_EQ(ProgressBar::Render({.done = 0, .total = 10, .items_per_second = 0, .eta_seconds = -1}, 4),
            "[....] 0/10 items  0.0 items/s  ETA --:--");
  EXPECT_EQ(ProgressBar::FormatDuration(3723), "1:02:03");
  EXPECT_EQ(ProgressBar::FormatDuration(725), "12:05");
}

TEST(ProgressBarTest, OnATerminalRedrawsInPlace) {
  Capture c;
  ProgressBar bar(c.file(), /*terminal=*/true, 4, std::chrono::milliseconds(0));
  bar.Update({.done = 1, .total = 2, .items_per_second = 1, .eta_seconds = 1});
  bar.Update({.done = 2, .total = 2, .items_per_second = 1, .eta_seconds = 0});
  bar.Finish();
  EXPECT_EQ(c.Text(),
            "\r[##..] 1/2 items  1.0 items/s  ETA 0:01\033[K"
            "\r[####] 2/2 items  1.0 items/s  ETA 0:00\033[K\n");
}

TEST(ProgressBarTest, ATerminalIsRedrawnAtMostOncePerIntervalButAlwaysAtTheEnd) {
  Capture c;
  ProgressBar bar(c.file(), /*terminal=*/true, 4, std::chrono::hours(1));
  for (size_t i = 1; i <= 3; ++i) bar.Update({.done = i, .total = 4, .items_per_second = 1, .eta_seconds = 1});
  bar.Finish();  // the last state (3/4) is drawn, then the line ends
  const std::string text = c.Text();
  EXPECT_NE(text.find("1/4"), std::string::npos);
  EXPECT_EQ(text.find("2/4"), std::string::npos);
  EXPECT_NE(text.find("3/4"), std::string::npos);
  EXPECT_EQ(text.back(), '\n');
}

TEST(ProgressBarTest, PlainOutputPrintsALineEachTenth) {
  Capture c;
  ProgressBar bar(c.file(), /*terminal=*/false, 4);
  for (size_t i = 0; i <= 100; ++i) bar.Update({.done = i, .total = 100, .items_per_second = 10, .eta_seconds = 1});
  bar.Finish();
  const std::string text = c.Text();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 11);  // 0%, 10%, ..., 100%
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("100/100 items"), std::string::npos);
}

}  // namespace
}  // namespace aperture::evals
