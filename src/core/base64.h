// Standard base64 (RFC 4648 section 4, with padding), as signed notes,
// checkpoints, the log's JSON and base64 embeddings use it. Decoding is
// strict: only the one canonical encoding of some bytes is accepted, so two
// different texts never stand for the same signature or hash.
//
// Usage:
//   std::string text = Base64Encode(bytes);
//   std::optional<std::string> back = Base64Decode(text);  // == bytes
//
// Thread-safe (pure functions).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aperture {

std::string Base64Encode(std::string_view bytes);
// nullopt unless `text` is canonical padded standard base64 and nothing else.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace aperture
