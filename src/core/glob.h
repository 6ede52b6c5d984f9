// Glob patterns over names: '*' matches any run of characters (dots
// included), every other character itself. Research sites and scopes use
// them ("blocks.*.hook_resid_post", "blocks.3.*", "*"). Pure functions;
// thread-safe.
#pragma once

#include <string_view>

namespace aperture {

// Whether `name` matches `pattern` in full. Linear in the sizes for the
// usual few stars (backtracks only to the last star).
bool GlobMatch(std::string_view pattern, std::string_view name);

}  // namespace aperture
