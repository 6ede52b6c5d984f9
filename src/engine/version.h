// The engine's version, recorded with every research result: it names the
// arithmetic (kernels, reduction orders, the hook sites) that produced the
// numbers, so a result can be reproduced against the same engine. Bump it
// whenever a change can alter any result bit or site.
#pragma once

#include <string_view>

namespace aperture::engine {

inline constexpr std::string_view kEngineVersion = "aperture-engine/1";

}  // namespace aperture::engine
