// TextStream: the text of one streamed completion, token by token: whole
// UTF-8 characters only (IncrementalDecoder), with stop strings found
// across token boundaries and cut out exactly (StopSequences), holding back
// any tail that could still become one.
//
// Thread-compatible: one per choice. The tokenizer must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/sampling/stop_sequences.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"

namespace aperture::scheduler {

class TextStream {
 public:
  // strip_leading_space: drop the SentencePiece space in front of the first
  // piece (a chat reply), or keep it (a continuation of the prompt's text).
  TextStream(const engine::Tokenizer& tokenizer, bool strip_leading_space, std::vector<std::string> stops);

  struct Result {
    std::string text;      // safe to show now
    bool stopped = false;  // a stop string completed; `text` ends right before it
  };
  Result Push(int32_t token);
  // The end of the stream: what was held back (nothing after a stop).
  std::string Finish();

 private:
  engine::IncrementalDecoder decoder_;
  engine::StopSequences stops_;
};

}  // namespace aperture::scheduler
