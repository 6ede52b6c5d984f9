// ProgressBar: shows an evaluation's progress on the terminal,
//   [#########...................] 120/1000 items  35.2 items/s  ETA 0:25
// redrawn in place (carriage return) when the output is a terminal, and as
// plain lines at every tenth of the way (and at the end) otherwise, so logs
// stay short. Thread-safe: Update and Finish may come from any thread.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/base/thread_annotations.h"
#include "core/std_mutex.h"
#include "evals/eval_runner.h"

namespace aperture::evals {

class ProgressBar {
 public:
  // `terminal`: redraw in place; by default, whether `out` is a terminal.
  explicit ProgressBar(FILE* out = stderr, int width = 30);
  ProgressBar(FILE* out, bool terminal, int width = 30,
              std::chrono::milliseconds min_redraw = std::chrono::milliseconds(100));

  // Draws `p` (on a terminal at most once per min_redraw, but always the last item).
  void Update(const Progress& p);
  // Draws the last state once more if needed and ends the line.
  void Finish();

  // The bar's text for `p`, without a line end.
  static std::string Render(const Progress& p, int width = 30);
  // "0:25", "12:03", "1:02:03"; "--:--" for a negative (unknown) time.
  static std::string FormatDuration(double seconds);

 private:
  StdMutex mu_;  // the scheduler's threads report progress (core/std_mutex.h)
  FILE* const out_;
  const bool terminal_;
  const int width_;
  const std::chrono::milliseconds min_redraw_;
  Progress last_ ABSL_GUARDED_BY(mu_);
  bool drawn_last_ ABSL_GUARDED_BY(mu_) = true;
  bool open_line_ ABSL_GUARDED_BY(mu_) = false;  // a terminal line not yet ended
  int last_tenth_ ABSL_GUARDED_BY(mu_) = -1;     // plain output: the last tenth printed
  std::chrono::steady_clock::time_point last_draw_ ABSL_GUARDED_BY(mu_){};
};

}  // namespace aperture::evals
