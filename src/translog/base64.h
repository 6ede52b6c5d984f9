// Standard base64 (RFC 4648 section 4, with padding), as signed notes,
// checkpoints and the log's JSON use it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aperture::translog {

std::string Base64Encode(std::string_view bytes);
// nullopt unless `text` is canonical padded standard base64 and nothing else.
std::optional<std::string> Base64Decode(std::string_view text);

}  // namespace aperture::translog
