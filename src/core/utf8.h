// UTF-8 validity for text from outside (licence texts, model cards) before
// it is stored, hashed and put into JSON answers.
#pragma once

#include <string_view>

namespace aperture {

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF).
bool IsValidUtf8(std::string_view text);

}  // namespace aperture
