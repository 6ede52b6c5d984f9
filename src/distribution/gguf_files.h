// The files a GGUF carries besides its weights, as they are in the GGUF: the
// tokenizer (every `tokenizer.ggml.*` metadata key, with its GGUF type and
// value, as JSON) and the chat template (`tokenizer.chat_template`, byte
// for byte). A model ships them alongside its weights so a downloader can
// use, check or convert them without parsing the GGUF.
//
// The tokenizer JSON is canonical (sorted keys, no whitespace), so the same
// GGUF always gives the same bytes and the same SHA-256. Strings that are
// not valid UTF-8 (rare: GGUF tokenizers use byte tokens like "<0x80>")
// have the bad bytes replaced with U+FFFD, as all of Aperture's JSON does.
//
// Usage:
//   ASSIGN_OR_RETURN(auto gguf, engine::GgufFile::Open(path));
//   GgufSideFiles side = ExtractSideFiles(*gguf);
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>

#include "engine/gguf/gguf_reader.h"

namespace aperture::distribution {

struct GgufSideFiles {
  std::optional<std::string> tokenizer_json;  // nullopt when the GGUF has no tokenizer keys
  std::optional<std::string> chat_template;   // nullopt when it has no chat template
  std::string architecture;                   // general.architecture, "" when absent
};

GgufSideFiles ExtractSideFiles(const engine::GgufFile& gguf);

}  // namespace aperture::distribution
