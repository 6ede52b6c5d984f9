// Fuzzes chat templates: the Jinja source a model file carries
// (tokenizer.chat_template, recognised by family), the BOS/EOS spellings
// and the messages a caller sends, rendered and encoded with a real
// tokenizer. Fields are separated by NUL bytes: template, BOS, EOS, then
// role and content pairs. Every token id must lie in the vocabulary.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/chat/chat_encoder.h"
#include "engine/chat/chat_template.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/tokenizer.h"

namespace {

using namespace aperture::engine;

const Tokenizer& SharedTokenizer() {
  static const Tokenizer* tokenizer = [] {
    auto f = GgufFile::Open(std::string(APERTURE_SHARED_DIR) + "/models/vocab/ggml-vocab-llama-spm.gguf");
    if (!f.ok()) __builtin_trap();
    auto t = Tokenizer::FromGguf(**f);
    if (!t.ok()) __builtin_trap();
    return t->release();
  }();
  return *tokenizer;
}

std::vector<std::string_view> Fields(std::string_view input) {
  std::vector<std::string_view> out;
  for (;;) {
    const size_t nul = input.find('\0');
    out.push_back(input.substr(0, nul));
    if (nul == std::string_view::npos) return out;
    input.remove_prefix(nul + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<std::string_view> f = Fields(std::string_view(reinterpret_cast<const char*>(data), size));
  ChatTokenTexts tokens;
  if (f.size() > 1) tokens.bos = std::string(f[1]);
  if (f.size() > 2) tokens.eos = std::string(f[2]);
  const ChatTemplate chat(f[0], tokens);
  std::vector<ChatMessage> messages;
  for (size_t i = 3; i + 1 < f.size(); i += 2) messages.push_back({std::string(f[i]), std::string(f[i + 1])});
  for (bool generation_prompt : {true, false}) {
    auto rendered = chat.Render(messages, generation_prompt);
    if (!rendered.ok()) continue;
    const ChatEncoder encoder(SharedTokenizer());
    for (int32_t id : encoder.Encode(*rendered)) {
      if (id < 0 || id >= SharedTokenizer().n_vocab()) __builtin_trap();
    }
    (void)encoder.Stops(chat);
  }
  return 0;
}
