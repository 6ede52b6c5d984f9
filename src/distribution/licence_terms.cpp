#include "distribution/licence_terms.h"

#include "core/status_macros.h"
#include "core/utf8.h"
#include "distribution/licence_catalogue.h"
#include "fmt/format.h"

namespace aperture::distribution {
namespace {

absl::Status CheckText(std::string_view field, std::string_view text, size_t max, std::string_view what) {
  if (text.empty()) return FieldError(field, fmt::format("'{}' must hold the {}; it is empty", field, what));
  if (text.size() > max) {
    return FieldError(field,
                      fmt::format("'{}' is {} bytes; the {} may be at most {} bytes", field, text.size(), what, max));
  }
  if (!IsValidUtf8(text)) return FieldError(field, fmt::format("'{}' is not valid UTF-8 text", field));
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> AcceptLevels(const Json& body) {
  auto it = body.find("accept_levels");
  if (it == body.end() || it->is_null()) return LevelMask({Level::kDownload});
  if (!it->is_array()) {
    return FieldError("accept_levels", "'accept_levels' must be a list of level names, e.g. [\"download\"]");
  }
  std::vector<Level> levels;
  for (const Json& item : *it) {
    if (!item.is_string()) return FieldError("accept_levels", "'accept_levels' must hold level names");
    const std::string& name = item.get_ref<const std::string&>();
    std::optional<Level> level = ParseLevel(name);
    if (!level) {
      return FieldError("accept_levels",
                        fmt::format("'accept_levels' has '{}', which is not a level (use staged, hosted, api, "
                                    "research or download)",
                                    name.substr(0, 64)));
    }
    if (*level == Level::kOpen) {
      return FieldError("accept_levels", "'accept_levels' cannot hold 'open': at open there is no gate");
    }
    if (*level == Level::kClosed) {
      return FieldError("accept_levels", "'accept_levels' cannot hold 'closed': only owners use a closed model");
    }
    levels.push_back(*level);
  }
  return LevelMask(levels);
}

}  // namespace

uint32_t LevelMask(const std::vector<Level>& levels) {
  uint32_t mask = 0;
  for (Level l : levels) mask |= 1u << static_cast<int>(l);
  return mask;
}

std::vector<Level> MaskLevels(uint32_t mask) {
  std::vector<Level> out;
  for (Level l : kAllLevels) {
    if (MaskHas(mask, l)) out.push_back(l);
  }
  return out;
}

absl::StatusOr<LicenceTerms> ParseLicenceTerms(const Json& body) {
  if (!body.is_object()) return absl::InvalidArgumentError("the licence must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "spdx_id" && key != "name" && key != "text" && key != "accept_levels") {
      return FieldError(key, fmt::format("unknown field '{}'; a licence has spdx_id, name, text and accept_levels",
                                         key.substr(0, 64)));
    }
  }
  ASSIGN_OR_RETURN(std::optional<std::string> spdx, OptionalString(body, "spdx_id"));
  ASSIGN_OR_RETURN(std::optional<std::string> name, OptionalString(body, "name"));
  ASSIGN_OR_RETURN(std::string text, RequiredString(body, "text"));
  LicenceTerms terms;
  if (spdx) {
    if (!IsSpdxId(*spdx)) {
      return FieldError("spdx_id",
                        "'spdx_id' must be an SPDX licence identifier such as Apache-2.0 or MIT "
                        "(or leave it out and give 'name' for a custom licence)");
    }
    const KnownLicence* known = FindKnownLicence(*spdx);
    terms.spdx_id = known ? std::string(known->spdx_id) : *spdx;
    terms.name = name ? *name : known ? std::string(known->name) : *spdx;
  } else {
    if (!name || name->empty()) {
      return FieldError("name", "give 'spdx_id' (an SPDX licence identifier) or, for a custom licence, 'name'");
    }
    terms.name = *name;
  }
  if (terms.name.size() > kMaxLicenceNameBytes || !IsValidUtf8(terms.name)) {
    return FieldError("name", fmt::format("'name' must be UTF-8 of at most {} bytes", kMaxLicenceNameBytes));
  }
  RETURN_IF_ERROR(CheckText("text", text, kMaxLicenceTextBytes, "licence's full text"));
  terms.text = std::move(text);
  ASSIGN_OR_RETURN(terms.accept_levels, AcceptLevels(body));
  return terms;
}

}  // namespace aperture::distribution
