// libFuzzer target: arbitrary bytes as text for the Llama SentencePiece and
// GPT-2 byte-level tokenizers. Without special-token parsing, decoding must
// give back exactly the input bytes (both encoders are lossless, invalid
// UTF-8 included, except that SentencePiece reads a literal U+2581 as the
// space it stands for); streaming decoding must give valid UTF-8 only.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/utf8.h"
#include "engine/gguf/gguf_reader.h"
#include "engine/tokenizer/incremental_decoder.h"
#include "engine/tokenizer/tokenizer.h"

namespace {

using namespace aperture::engine;

std::vector<std::unique_ptr<Tokenizer>>* LoadTokenizers() {
  auto* toks = new std::vector<std::unique_ptr<Tokenizer>>();
  for (const char* name : {"ggml-vocab-llama-spm.gguf", "ggml-vocab-gpt-2.gguf"}) {
    auto f = GgufFile::Open(std::string(APERTURE_SHARED_DIR) + "/models/vocab/" + name);
    if (!f.ok()) __builtin_trap();
    auto t = Tokenizer::FromGguf(**f);
    if (!t.ok()) __builtin_trap();
    toks->push_back(std::move(*t));
  }
  return toks;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static std::vector<std::unique_ptr<Tokenizer>>* toks = LoadTokenizers();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const auto& tok : *toks) {
    const std::vector<int32_t> ids = tok->Encode(text, /*add_special=*/false, /*parse_special=*/false);
    std::string expected(text);
    if (tok->kind() == TokenizerKind::kSpm) {
      for (size_t p; (p = expected.find("\xE2\x96\x81")) != std::string::npos;) {
        expected.replace(p, 3, " ");
      }
    }
    if (tok->Decode(ids) != expected) __builtin_trap();
    IncrementalDecoder dec(*tok, {.strip_leading_space = true});  // as Decode does
    std::string streamed;
    for (int32_t id : ids) streamed += dec.Push(id);
    streamed += dec.Flush();
    if (!IsValidUtf8(streamed)) __builtin_trap();
    if (IsValidUtf8(text) && streamed != expected) __builtin_trap();
    const auto special = tok->Encode(text, /*add_special=*/true, /*parse_special=*/true);
    for (int32_t id : special) {
      if (id < 0 || id >= tok->n_vocab()) __builtin_trap();
    }
  }
  return 0;
}
