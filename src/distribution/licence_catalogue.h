// What Aperture knows about licences by SPDX id: their names and whether they
// are open in the sense the Model Openness Framework asks of each kind of
// component: OSI-approved (code), an open data licence (data such as model
// parameters and datasets) or an open content licence (documents). A few
// well-known restrictive licences are listed too, so a card can say why
// they are not open. Unknown ids are not open.
//
// Usage:
//   const KnownLicence* l = FindKnownLicence("apache-2.0");  // ids match case-insensitively
//   if (l && l->osi_approved) ...
//
// Thread-safety: immutable data.
#pragma once

#include <string_view>

namespace aperture::distribution {

struct KnownLicence {
  std::string_view spdx_id;  // canonical spelling
  std::string_view name;
  bool osi_approved;             // an OSI-approved open source licence
  bool open_data;                // an open data licence
  bool open_content;             // an open content (documentation) licence
  std::string_view restriction;  // for a licence that is none of these: what it restricts
};

// nullptr when the id is not in the catalogue.
const KnownLicence* FindKnownLicence(std::string_view spdx_id);

// Whether `id` is a syntactically valid SPDX short identifier (letters,
// digits, '-', '.' and a trailing '+'; 1-64 characters), including
// "LicenseRef-..." references.
bool IsSpdxId(std::string_view id);

}  // namespace aperture::distribution
