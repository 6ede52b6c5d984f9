// JSON helpers for untrusted input: a nesting-depth guard, a parse that never
// throws, typed field access with errors that name the field, and the
// canonical form (sorted keys, no whitespace, UTF-8) used for hashing.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace aperture {

using Json = nlohmann::json;

inline constexpr int kMaxJsonDepth = 64;

// Parses `text` as one JSON value. Rejects invalid JSON and nesting deeper
// than `max_depth` (checked before parsing, so no recursion can blow the stack).
absl::StatusOr<Json> ParseJson(std::string_view text, int max_depth = kMaxJsonDepth);

// The canonical serialisation: sorted keys, no insignificant whitespace;
// invalid UTF-8 in strings is replaced with U+FFFD.
std::string CanonicalJson(const Json& value);

// The one way JSON leaves the process (response bodies, stream events, CLI
// output): never throws. nlohmann's own dump() throws on invalid UTF-8, and
// strings here often hold caller bytes (a path, a header, a model id); an
// invalid sequence becomes U+FFFD instead. `indent` >= 0 pretty-prints.
// scripts/lint.sh refuses a dump() anywhere else.
std::string DumpJson(const Json& value, int indent = -1);

// Field access on an object. Missing optional fields give nullopt; a present
// field of the wrong type is an InvalidArgument error naming the field.
absl::StatusOr<std::string> RequiredString(const Json& obj, std::string_view field);
absl::StatusOr<std::optional<std::string>> OptionalString(const Json& obj, std::string_view field);
absl::StatusOr<std::optional<int64_t>> OptionalInt(const Json& obj, std::string_view field);
absl::StatusOr<std::optional<double>> OptionalNumber(const Json& obj, std::string_view field);
absl::StatusOr<std::optional<bool>> OptionalBool(const Json& obj, std::string_view field);

// InvalidArgument with `message`, carrying `field` as the OpenAI-style param.
absl::Status FieldError(std::string_view field, const std::string& message);

// The field name carried by an error from the accessors above ("" if none);
// the HTTP layer reports it as the OpenAI-style `param`.
std::string ErrorParam(const absl::Status& status);

}  // namespace aperture
