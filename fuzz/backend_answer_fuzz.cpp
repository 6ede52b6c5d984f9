// Fuzzes what a remote backend's answer goes through before anything of it
// reaches a caller: the event-stream parser, fed in two pieces cut where the
// input says, then the JSON parse and the checks of each event (as a stream
// chunk) and of the whole input (as an unstreamed answer), chat and text,
// with and without logprobs; and the URL parser a backend is added with.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "api/openai/remote_answer.h"
#include "backends/sse_parser.h"
#include "core/http_url.h"
#include "core/json.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t cut = data[0] % (size + 1);
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)aperture::ParseHttpUrl(text);
  aperture::backends::SseParser parser(4096);
  std::vector<std::string> events;
  const size_t first = std::min(cut, text.size());
  if (parser.Feed(text.substr(0, first), events).ok()) (void)parser.Feed(text.substr(first), events);
  for (int variant = 0; variant < 4; ++variant) {
    aperture::AnswerRules rules;
    rules.chat = variant % 2 == 0;
    rules.logprobs = variant >= 2;
    rules.top_logprobs = 2;
    rules.n = 2;
    rules.stream = true;
    for (const std::string& event : events) {
      auto json = aperture::ParseJson(event);
      if (!json.ok()) continue;
      auto chunk = aperture::CheckChunk(*json, rules);
      if (chunk.ok() && chunk->chunk) (void)aperture::DumpJson(*chunk->chunk);
    }
    rules.stream = false;
    auto whole = aperture::ParseJson(text);
    if (whole.ok()) {
      auto answer = aperture::CheckAnswer(*whole, rules);
      if (answer.ok()) (void)aperture::DumpJson(answer->body);
    }
  }
  return 0;
}
