#include "config/toml_reader.h"

#include "core/time_format.h"
#include "fmt/format.h"

namespace aperture {

const toml::node* TomlReader::Take(std::string_view key) {
  taken_.insert(std::string(key));
  return table_.get(key);
}

std::string TomlReader::Name(std::string_view key) const {
  return path_.empty() ? std::string(key) : fmt::format("{}.{}", path_, key);
}

absl::Status TomlReader::Error(const toml::node& node, std::string_view key, std::string_view what) const {
  return absl::InvalidArgumentError(fmt::format("{}:{}: {} {}", source_, node.source().begin.line, Name(key), what));
}

absl::Status TomlReader::Int(std::string_view key, int64_t& out, int64_t min, int64_t max) {
  const toml::node* node = Take(key);
  if (!node) return absl::OkStatus();
  auto v = node->value<int64_t>();
  if (!node->is_integer() || !v) return Error(*node, key, "must be an integer");
  if (*v < min || *v > max) return Error(*node, key, fmt::format("must be between {} and {}", min, max));
  out = *v;
  return absl::OkStatus();
}

absl::Status TomlReader::Number(std::string_view key, double& out) {
  const toml::node* node = Take(key);
  if (!node) return absl::OkStatus();
  auto v = node->value<double>();
  if (!(node->is_integer() || node->is_floating_point()) || !v || *v != *v) {
    return Error(*node, key, "must be a number");
  }
  out = *v;
  return absl::OkStatus();
}

absl::Status TomlReader::Bool(std::string_view key, bool& out) {
  const toml::node* node = Take(key);
  if (!node) return absl::OkStatus();
  auto v = node->value<bool>();
  if (!node->is_boolean() || !v) return Error(*node, key, "must be true or false");
  out = *v;
  return absl::OkStatus();
}

absl::Status TomlReader::String(std::string_view key, std::string& out) {
  const toml::node* node = Take(key);
  if (!node) return absl::OkStatus();
  auto v = node->value<std::string>();
  if (!node->is_string() || !v) return Error(*node, key, "must be a string");
  out = *v;
  return absl::OkStatus();
}

absl::Status TomlReader::Duration(std::string_view key, int64_t& seconds, bool allow_zero) {
  const toml::node* node = Take(key);
  if (!node) return absl::OkStatus();
  auto text = node->value<std::string>();
  if (!node->is_string() || !text) return Error(*node, key, "must be a duration string such as \"7d\"");
  if (allow_zero && (*text == "0" || *text == "0s" || *text == "0m" || *text == "0h" || *text == "0d")) {
    seconds = 0;
    return absl::OkStatus();
  }
  auto parsed = ParseDurationSeconds(*text);
  if (!parsed.ok()) return Error(*node, key, "must end in s, m, h, d or w, after a positive number (e.g. \"7d\")");
  seconds = *parsed;
  return absl::OkStatus();
}

const toml::table* TomlReader::Table(std::string_view key, absl::Status& status) {
  const toml::node* node = Take(key);
  if (!node) return nullptr;
  if (!node->is_table()) {
    status = Error(*node, key, "must be a table");
    return nullptr;
  }
  return node->as_table();
}

const toml::array* TomlReader::Tables(std::string_view key, absl::Status& status) {
  const toml::node* node = Take(key);
  if (!node) return nullptr;
  const toml::array* arr = node->as_array();
  if (!arr || !arr->is_array_of_tables()) {
    status = Error(*node, key, fmt::format("must be an array of tables ([[{}]])", Name(key)));
    return nullptr;
  }
  return arr;
}

absl::Status TomlReader::NoUnknownKeys() const {
  for (const auto& [key, node] : table_) {
    if (!taken_.count(std::string(key.str()))) return Error(node, key.str(), "is not a known setting");
  }
  return absl::OkStatus();
}

absl::StatusOr<toml::table> ParseToml(std::string_view text, std::string_view source) {
  int line = 1;
  for (char c : text) {
    if (c == '\n') ++line;
    if (static_cast<unsigned char>(c) >= 0x80) {
      return absl::InvalidArgumentError(fmt::format("{}:{}: only ASCII text is allowed here", source, line));
    }
  }
  toml::parse_result parsed = toml::parse(text, source);
  if (!parsed) {
    const toml::parse_error& err = parsed.error();
    return absl::InvalidArgumentError(fmt::format("{}:{}: {}", source, err.source().begin.line, err.description()));
  }
  return std::move(parsed).table();
}

}  // namespace aperture
