#include "openness/declaration.h"

#include "core/status_macros.h"
#include "core/utf8.h"
#include "distribution/licence_catalogue.h"
#include "fmt/format.h"
#include "openness/mof.h"

namespace aperture::openness {
namespace {

std::string ComponentIds() {
  std::string out;
  for (const MofComponent& c : MofComponents()) {
    if (!out.empty()) out += ", ";
    out += c.id;
  }
  return out;
}

bool UrlCharOk(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u > 0x20 && u != 0x7F && c != '"' && c != '<' && c != '>' && c != '\\' && c != '`';
}

absl::Status CheckUrl(std::string_view url) {
  const bool scheme = url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0;
  const size_t host_start = url.find("://") + 3;
  if (!scheme || url.size() <= host_start || url[host_start] == '/') {
    return FieldError("url", "'url' must be an http:// or https:// link to where the component is published");
  }
  if (url.size() > kMaxUrlBytes) {
    return FieldError("url", fmt::format("'url' is longer than {} bytes", kMaxUrlBytes));
  }
  for (char c : url) {
    if (!UrlCharOk(c)) {
      return FieldError("url",
                        "'url' has a space, quote, angle bracket, backslash or control character; "
                        "percent-encode it");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<DeclarationInput> ParseDeclaration(std::string_view component, const Json& body) {
  if (FindMofComponent(component) == nullptr) {
    return FieldError("component", fmt::format("'{}' is not a Model Openness Framework component; use one of {}",
                                               component.substr(0, 64), ComponentIds()));
  }
  if (!body.is_object()) return absl::InvalidArgumentError("a declaration must be a JSON object");
  for (const auto& [key, value] : body.items()) {
    if (key != "url" && key != "licence" && key != "note") {
      return FieldError(key,
                        fmt::format("unknown field '{}'; a declaration has url, licence and note", key.substr(0, 64)));
    }
  }
  DeclarationInput d;
  d.component = std::string(component);
  ASSIGN_OR_RETURN(d.url, RequiredString(body, "url"));
  RETURN_IF_ERROR(CheckUrl(d.url));
  ASSIGN_OR_RETURN(std::optional<std::string> licence, OptionalString(body, "licence"));
  if (licence && !licence->empty()) {
    if (!distribution::IsSpdxId(*licence)) {
      return FieldError("licence", "'licence' must be an SPDX licence identifier such as CC-BY-4.0");
    }
    const distribution::KnownLicence* known = distribution::FindKnownLicence(*licence);
    d.licence = known ? std::string(known->spdx_id) : *licence;
  }
  ASSIGN_OR_RETURN(std::optional<std::string> note, OptionalString(body, "note"));
  if (note) {
    if (note->size() > kMaxNoteBytes || !IsValidUtf8(*note)) {
      return FieldError("note", fmt::format("'note' must be UTF-8 of at most {} bytes", kMaxNoteBytes));
    }
    d.note = *note;
  }
  return d;
}

}  // namespace aperture::openness
