#include "scheduler/text_stream.h"

#include <utility>

namespace aperture::scheduler {

TextStream::TextStream(const engine::Tokenizer& tokenizer, bool strip_leading_space, std::vector<std::string> stops)
    : decoder_(tokenizer, {.render_special = false, .strip_leading_space = strip_leading_space}),
      stops_(std::move(stops)) {}

TextStream::Result TextStream::Push(int32_t token) {
  if (stops_.stopped()) return {"", true};
  engine::StopSequences::Result r = stops_.Push(decoder_.Push(token));
  return {std::move(r.emit), r.stopped};
}

std::string TextStream::Finish() {
  if (stops_.stopped()) return "";
  engine::StopSequences::Result r = stops_.Push(decoder_.Flush());
  if (r.stopped) return std::move(r.emit);
  return r.emit + stops_.Flush();
}

}  // namespace aperture::scheduler
