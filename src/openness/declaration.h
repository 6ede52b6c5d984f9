// An owner's declaration that an openness component is available elsewhere
// (PUT /v1/models/{id}/openness/{component}, `aperture openness declare`):
// {"url", "licence"?, "note"?}, checked before it is stored. The server
// cannot check what is behind the link, so the card marks the component
// "declared", never "verified".
//
// Limits: the component must be one of MOF's 17 ids; the URL is http(s), at
// most 2048 bytes, without spaces, quotes, angle brackets or control
// characters; the licence an SPDX id; the note UTF-8 of at most 1000 bytes.
//
// Usage:
//   ASSIGN_OR_RETURN(DeclarationInput d, ParseDeclaration("data-card", body));
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "core/json.h"

namespace aperture::openness {

inline constexpr size_t kMaxUrlBytes = 2048;
inline constexpr size_t kMaxNoteBytes = 1000;

struct DeclarationInput {
  std::string component;
  std::string url;
  std::string licence;  // "" when not stated
  std::string note;
};

absl::StatusOr<DeclarationInput> ParseDeclaration(std::string_view component, const Json& body);

}  // namespace aperture::openness
