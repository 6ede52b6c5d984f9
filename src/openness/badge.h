// A small SVG badge of a model's openness class ("MOF | Class III
// conditional"), for READMEs and model pages. Text is escaped for XML;
// widths are estimated from character counts (no font metrics), so the
// badge stays legible in any renderer.
//
// Usage:
//   std::string svg = OpennessBadge(EvaluateMof(states));
//
// Thread-safety: pure function.
#pragma once

#include <string>

#include "openness/mof.h"

namespace aperture::openness {

std::string OpennessBadge(const MofResult& mof);

}  // namespace aperture::openness
