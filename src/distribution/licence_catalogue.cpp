#include "distribution/licence_catalogue.h"

#include <array>

namespace aperture::distribution {
namespace {

constexpr bool kCode = true;
constexpr bool kNo = false;

// Sorted by nothing in particular; looked up linearly (a few dozen entries).
constexpr std::array<KnownLicence, 55> kCatalogue = {{
    // OSI-approved open source licences.
    {"0BSD", "BSD Zero Clause License", kCode, kNo, kNo, ""},
    {"AFL-3.0", "Academic Free License v3.0", kCode, kNo, kNo, ""},
    {"AGPL-3.0-only", "GNU Affero General Public License v3.0 only", kCode, kNo, kNo, ""},
    {"AGPL-3.0-or-later", "GNU Affero General Public License v3.0 or later", kCode, kNo, kNo, ""},
    {"Apache-1.1", "Apache License 1.1", kCode, kNo, kNo, ""},
    {"Apache-2.0", "Apache License 2.0", kCode, kNo, kNo, ""},
    {"Artistic-2.0", "Artistic License 2.0", kCode, kNo, kNo, ""},
    {"BlueOak-1.0.0", "Blue Oak Model License 1.0.0", kCode, kNo, kNo, ""},
    {"BSD-1-Clause", "BSD 1-Clause License", kCode, kNo, kNo, ""},
    {"BSD-2-Clause", "BSD 2-Clause \"Simplified\" License", kCode, kNo, kNo, ""},
    {"BSD-2-Clause-Patent", "BSD-2-Clause Plus Patent License", kCode, kNo, kNo, ""},
    {"BSD-3-Clause", "BSD 3-Clause \"New\" or \"Revised\" License", kCode, kNo, kNo, ""},
    {"BSL-1.0", "Boost Software License 1.0", kCode, kNo, kNo, ""},
    {"CDDL-1.0", "Common Development and Distribution License 1.0", kCode, kNo, kNo, ""},
    {"ECL-2.0", "Educational Community License v2.0", kCode, kNo, kNo, ""},
    {"EPL-1.0", "Eclipse Public License 1.0", kCode, kNo, kNo, ""},
    {"EPL-2.0", "Eclipse Public License 2.0", kCode, kNo, kNo, ""},
    {"EUPL-1.2", "European Union Public License 1.2", kCode, kNo, kNo, ""},
    {"GPL-2.0-only", "GNU General Public License v2.0 only", kCode, kNo, kNo, ""},
    {"GPL-2.0-or-later", "GNU General Public License v2.0 or later", kCode, kNo, kNo, ""},
    {"GPL-3.0-only", "GNU General Public License v3.0 only", kCode, kNo, kNo, ""},
    {"GPL-3.0-or-later", "GNU General Public License v3.0 or later", kCode, kNo, kNo, ""},
    {"ISC", "ISC License", kCode, kNo, kNo, ""},
    {"LGPL-2.1-only", "GNU Lesser General Public License v2.1 only", kCode, kNo, kNo, ""},
    {"LGPL-2.1-or-later", "GNU Lesser General Public License v2.1 or later", kCode, kNo, kNo, ""},
    {"LGPL-3.0-only", "GNU Lesser General Public License v3.0 only", kCode, kNo, kNo, ""},
    {"LGPL-3.0-or-later", "GNU Lesser General Public License v3.0 or later", kCode, kNo, kNo, ""},
    {"MIT", "MIT License", kCode, kNo, kNo, ""},
    {"MIT-0", "MIT No Attribution", kCode, kNo, kNo, ""},
    {"MPL-2.0", "Mozilla Public License 2.0", kCode, kNo, kNo, ""},
    {"MS-PL", "Microsoft Public License", kCode, kNo, kNo, ""},
    {"MulanPSL-2.0", "Mulan Permissive Software License, Version 2", kCode, kNo, kNo, ""},
    {"NCSA", "University of Illinois/NCSA Open Source License", kCode, kNo, kNo, ""},
    {"OSL-3.0", "Open Software License 3.0", kCode, kNo, kNo, ""},
    {"PostgreSQL", "PostgreSQL License", kCode, kNo, kNo, ""},
    {"Unlicense", "The Unlicense", kCode, kNo, kNo, ""},
    {"UPL-1.0", "Universal Permissive License v1.0", kCode, kNo, kNo, ""},
    {"Zlib", "zlib License", kCode, kNo, kNo, ""},
    // Open data and open content licences.
    {"CDLA-Permissive-1.0", "Community Data License Agreement Permissive 1.0", kNo, true, kNo, ""},
    {"CDLA-Permissive-2.0", "Community Data License Agreement Permissive 2.0", kNo, true, kNo, ""},
    {"CDLA-Sharing-1.0", "Community Data License Agreement Sharing 1.0", kNo, true, kNo, ""},
    {"ODC-By-1.0", "Open Data Commons Attribution License v1.0", kNo, true, kNo, ""},
    {"ODbL-1.0", "Open Data Commons Open Database License v1.0", kNo, true, kNo, ""},
    {"PDDL-1.0", "Open Data Commons Public Domain Dedication & License 1.0", kNo, true, kNo, ""},
    {"CC0-1.0", "Creative Commons Zero v1.0 Universal", kNo, true, true, ""},
    {"CC-PDDC", "Creative Commons Public Domain Dedication and Certification", kNo, true, true, ""},
    {"CC-BY-4.0", "Creative Commons Attribution 4.0 International", kNo, true, true, ""},
    {"CC-BY-SA-4.0", "Creative Commons Attribution Share Alike 4.0 International", kNo, true, true, ""},
    {"CC-BY-3.0", "Creative Commons Attribution 3.0 Unported", kNo, kNo, true, ""},
    {"CC-BY-SA-3.0", "Creative Commons Attribution Share Alike 3.0 Unported", kNo, kNo, true, ""},
    {"FreeBSD-DOC", "FreeBSD Documentation License", kNo, kNo, true, ""},
    // Well-known licences that are not open.
    {"CC-BY-NC-4.0", "Creative Commons Attribution Non Commercial 4.0 International", kNo, kNo, kNo,
     "forbids commercial use"},
    {"CC-BY-ND-4.0", "Creative Commons Attribution No Derivatives 4.0 International", kNo, kNo, kNo,
     "forbids modified versions"},
    {"CC-BY-NC-SA-4.0", "Creative Commons Attribution Non Commercial Share Alike 4.0 International", kNo, kNo, kNo,
     "forbids commercial use"},
    {"BUSL-1.1", "Business Source License 1.1", kNo, kNo, kNo, "restricts production use"},
}};

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

}  // namespace

const KnownLicence* FindKnownLicence(std::string_view spdx_id) {
  for (const KnownLicence& l : kCatalogue) {
    if (IEquals(l.spdx_id, spdx_id)) return &l;
  }
  return nullptr;
}

bool IsSpdxId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (size_t i = 0; i < id.size(); ++i) {
    const char c = id[i];
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || (c == '+' && i + 1 == id.size() && i > 0);
    if (!ok) return false;
  }
  return true;
}

}  // namespace aperture::distribution
