// StopSequences: finds stop strings in generated text that arrives in
// chunks (one per token), where a stop string may span several chunks. It
// says how much text is safe to emit now: everything except a tail that
// could still be the start of a stop string; once a stop string appears,
// the text before it is emitted and the rest is dropped.
//
// Usage:
//   StopSequences stops({"\n\nUser:", "</answer>"});
//   for each decoded chunk: { auto r = stops.Push(chunk); send(r.emit); if (r.stopped) break; }
//   send(stops.Flush());  // generation ended for another reason
//
// Works on bytes; feed it valid UTF-8 (IncrementalDecoder's output) and
// the emitted pieces stay valid UTF-8, because a held-back tail always
// starts where a stop string starts. Empty stop strings are ignored.
// Thread-compatible: one per stream.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace aperture::engine {

class StopSequences {
 public:
  explicit StopSequences(std::vector<std::string> stops);

  struct Result {
    std::string emit;       // safe to send now
    bool stopped = false;   // a stop string was found; `emit` ends right before it
    size_t stop_index = 0;  // which stop string (index into the constructor's list) when stopped
  };
  // Adds text. After a stop, further pushes return nothing.
  Result Push(std::string_view text);
  // Returns what is held back (call when generation ends without a stop).
  std::string Flush();

  bool stopped() const { return stopped_; }
  size_t held_back() const { return pending_.size(); }

 private:
  std::vector<std::string> stops_;
  std::vector<size_t> original_index_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace aperture::engine
