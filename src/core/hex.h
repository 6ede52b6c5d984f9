// Lower-case hexadecimal encoding and strict decoding.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace aperture {

std::string HexEncode(std::string_view bytes);
// nullopt on odd length or a non-hex character.
std::optional<std::string> HexDecode(std::string_view hex);

}  // namespace aperture
