#include "core/json.h"

#include "absl/strings/cord.h"
#include "fmt/format.h"

namespace aperture {
namespace {

constexpr char kParamPayload[] = "aperture/param";

// "'field' <problem>", carrying the field.
absl::Status FieldProblem(std::string_view field, std::string_view problem) {
  return FieldError(field, fmt::format("'{}' {}", field, problem));
}

// Depth of [ and { outside strings; stops as soon as max_depth is exceeded.
bool DepthWithin(std::string_view text, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"')
      in_string = true;
    else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return true;
}

}  // namespace

absl::Status FieldError(std::string_view field, const std::string& message) {
  absl::Status s = absl::InvalidArgumentError(message);
  s.SetPayload(kParamPayload, absl::Cord(std::string(field)));
  return s;
}

absl::StatusOr<Json> ParseJson(std::string_view text, int max_depth) {
  if (!DepthWithin(text, max_depth)) {
    return absl::InvalidArgumentError(fmt::format("JSON is nested more than {} levels deep", max_depth));
  }
  Json value = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return absl::InvalidArgumentError("body is not valid JSON");
  return value;
}

std::string CanonicalJson(const Json& value) { return DumpJson(value); }

std::string DumpJson(const Json& value, int indent) {
  return value.dump(indent, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

absl::StatusOr<std::string> RequiredString(const Json& obj, std::string_view field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return FieldProblem(field, "is required");
  if (!it->is_string()) return FieldProblem(field, "must be a string");
  return it->get<std::string>();
}

absl::StatusOr<std::optional<std::string>> OptionalString(const Json& obj, std::string_view field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<std::string>();
  if (!it->is_string()) return FieldProblem(field, "must be a string");
  return std::optional<std::string>(it->get<std::string>());
}

absl::StatusOr<std::optional<int64_t>> OptionalInt(const Json& obj, std::string_view field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<int64_t>();
  if (it->is_number_unsigned()) {
    if (it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) return FieldProblem(field, "is too large");
    return std::optional<int64_t>(static_cast<int64_t>(it->get<uint64_t>()));
  }
  if (!it->is_number_integer()) return FieldProblem(field, "must be an integer");
  return std::optional<int64_t>(it->get<int64_t>());
}

absl::StatusOr<std::optional<double>> OptionalNumber(const Json& obj, std::string_view field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<double>();
  if (!it->is_number()) return FieldProblem(field, "must be a number");
  return std::optional<double>(it->get<double>());
}

absl::StatusOr<std::optional<bool>> OptionalBool(const Json& obj, std::string_view field) {
  auto it = obj.find(field);
  if (it == obj.end() || it->is_null()) return std::optional<bool>();
  if (!it->is_boolean()) return FieldProblem(field, "must be true or false");
  return std::optional<bool>(it->get<bool>());
}

std::string ErrorParam(const absl::Status& status) {
  auto payload = status.GetPayload(kParamPayload);
  return payload ? std::string(*payload) : std::string();
}

}  // namespace aperture
