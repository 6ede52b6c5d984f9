#include "evals/progress_bar.h"

#include <unistd.h>

#include <cmath>

#include "fmt/format.h"

namespace aperture::evals {

ProgressBar::ProgressBar(FILE* out, int width) : ProgressBar(out, out != nullptr && isatty(fileno(out)) != 0, width) {}

ProgressBar::ProgressBar(FILE* out, bool terminal, int width, std::chrono::milliseconds min_redraw)
    : out_(out), terminal_(terminal), width_(std::max(1, width)), min_redraw_(min_redraw) {}

std::string ProgressBar::FormatDuration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e9) return "--:--";
  const long total = std::lround(seconds);
  const long h = total / 3600, m = total / 60 % 60, s = total % 60;
  if (h > 0) return fmt::format("{}:{:02}:{:02}", h, m, s);
  return fmt::format("{}:{:02}", m, s);
}

std::string ProgressBar::Render(const Progress& p, int width) {
  const double fraction = p.total > 0 ? std::min(1.0, static_cast<double>(p.done) / p.total) : 1.0;
  const int filled = static_cast<int>(fraction * width);
  std::string bar(filled, '#');
  bar.append(width - filled, '.');
  return fmt::format("[{}] {}/{} items  {:.1f} items/s  ETA {}", bar, p.done, p.total, p.items_per_second,
                     FormatDuration(p.eta_seconds));
}

void ProgressBar::Update(const Progress& p) {
  StdMutexLock lock(&mu_);
  last_ = p;
  if (out_ == nullptr) return;
  const bool complete = p.done >= p.total;
  if (terminal_) {
    const auto now = std::chrono::steady_clock::now();
    if (!complete && open_line_ && now - last_draw_ < min_redraw_) {
      drawn_last_ = false;
      return;
    }
    last_draw_ = now;
    // \033[K clears what a longer previous line left behind.
    std::fprintf(out_, "\r%s\033[K", Render(p, width_).c_str());
    open_line_ = true;
  } else {
    const int tenth = p.total > 0 ? static_cast<int>(10 * p.done / p.total) : 10;
    if (tenth == last_tenth_) {
      drawn_last_ = false;
      return;
    }
    last_tenth_ = tenth;
    std::fprintf(out_, "%s\n", Render(p, width_).c_str());
  }
  drawn_last_ = true;
  std::fflush(out_);
}

void ProgressBar::Finish() {
  StdMutexLock lock(&mu_);
  if (out_ == nullptr) return;
  if (!drawn_last_) {
    if (terminal_) {
      std::fprintf(out_, "\r%s\033[K", Render(last_, width_).c_str());
    } else {
      std::fprintf(out_, "%s\n", Render(last_, width_).c_str());
    }
    drawn_last_ = true;
  }
  if (terminal_ && open_line_) std::fprintf(out_, "\n");
  open_line_ = false;
  std::fflush(out_);
}

}  // namespace aperture::evals
