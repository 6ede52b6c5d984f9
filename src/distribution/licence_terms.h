// A licence as an owner submits it (PUT /v1/models/{id}/licence, `aperture
// licence set`) and a model card's text: checked before anything is stored.
//
// A licence is an SPDX id with the licence's full text, or a custom licence:
// a title ("name") and its text. "accept_levels" lists the levels whose
// callers must accept it before using the model (default ["download"]);
// `open` never has a gate and `closed` is owners only, so neither may be
// listed. Texts are non-empty UTF-8 of at most 1 MiB.
//
// Usage:
//   ASSIGN_OR_RETURN(LicenceTerms terms, ParseLicenceTerms(body));
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aperture/level.h"
#include "core/json.h"

namespace aperture::distribution {

inline constexpr size_t kMaxLicenceTextBytes = size_t{1} << 20;
inline constexpr size_t kMaxLicenceNameBytes = 200;

struct LicenceTerms {
  std::string spdx_id;  // canonical spelling when known; "" for a custom licence
  std::string name;     // the catalogue's name, or the owner's title
  std::string text;
  uint32_t accept_levels = 0;  // bit i for Level i
};

// Parses {"spdx_id"?, "name"?, "text", "accept_levels"?}. InvalidArgument
// naming the field for anything else.
absl::StatusOr<LicenceTerms> ParseLicenceTerms(const Json& body);

// The bit mask of levels, and back (in level order).
uint32_t LevelMask(const std::vector<Level>& levels);
std::vector<Level> MaskLevels(uint32_t mask);
inline bool MaskHas(uint32_t mask, Level level) { return (mask >> static_cast<int>(level)) & 1u; }

}  // namespace aperture::distribution
