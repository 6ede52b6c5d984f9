#include "api/body_fields.h"

#include "core/status_macros.h"
#include "core/time_format.h"
#include "fmt/format.h"

namespace aperture {

absl::StatusOr<std::optional<Level>> OptionalLevel(const Json& body, std::string_view field) {
  ASSIGN_OR_RETURN(auto name, OptionalString(body, field));
  if (!name) return std::optional<Level>();
  auto level = ParseLevel(*name);
  if (!level) {
    return FieldError(field, fmt::format("'{}' must be one of closed, staged, hosted, api, research, "
                                         "download, open (got '{}')",
                                         field, *name));
  }
  return level;
}

absl::StatusOr<Level> RequiredLevel(const Json& body, std::string_view field) {
  ASSIGN_OR_RETURN(auto level, OptionalLevel(body, field));
  if (!level) return FieldError(field, fmt::format("'{}' is required", field));
  return *level;
}

absl::StatusOr<std::optional<int64_t>> OptionalDuration(const Json& body, std::string_view field) {
  ASSIGN_OR_RETURN(auto text, OptionalString(body, field));
  if (!text) return std::optional<int64_t>();
  auto seconds = ParseDurationSeconds(*text);
  if (!seconds.ok()) return FieldError(field, fmt::format("'{}': {}", field, std::string(seconds.status().message())));
  return std::optional<int64_t>(*seconds);
}

}  // namespace aperture
