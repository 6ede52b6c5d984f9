// Typed reads of the request-body fields shared by several handlers
// (levels, roles, durations), with errors that name the field.
#pragma once

#include <optional>
#include <string_view>

#include "absl/status/statusor.h"
#include "aperture/level.h"
#include "core/json.h"

namespace aperture {

absl::StatusOr<Level> RequiredLevel(const Json& body, std::string_view field);
absl::StatusOr<std::optional<Level>> OptionalLevel(const Json& body, std::string_view field);
// A duration such as "30d" as seconds; nullopt if absent.
absl::StatusOr<std::optional<int64_t>> OptionalDuration(const Json& body, std::string_view field);

}  // namespace aperture
