// TomlReader: reads one TOML table of a settings file (the config, the
// release policy) with errors that name the file, the line and the key, and
// refuses keys nobody read, so a typo never passes silently. Header-only
// toml++ without exceptions. Not thread-safe; one per table being read.
#pragma once

#include <set>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "toml++/toml.h"

namespace aperture {

class TomlReader {
 public:
  // `path`: the table's dotted name in errors ("" for the top level).
  TomlReader(const toml::table& table, std::string path, std::string_view source)
      : table_(table), path_(std::move(path)), source_(source) {}

  // Each reads `key` if present (leaving `out` as it is otherwise).
  absl::Status Int(std::string_view key, int64_t& out, int64_t min, int64_t max);
  absl::Status Number(std::string_view key, double& out);
  absl::Status Bool(std::string_view key, bool& out);
  absl::Status String(std::string_view key, std::string& out);
  absl::Status Duration(std::string_view key, int64_t& seconds, bool allow_zero = false);  // "7d", "12h"...
  // Present and a table / an array of tables (else nullptr; `status` set on a wrong type).
  const toml::table* Table(std::string_view key, absl::Status& status);
  const toml::array* Tables(std::string_view key, absl::Status& status);
  // The node at `key` (nullptr when absent), marked as read.
  const toml::node* Take(std::string_view key);

  absl::Status NoUnknownKeys() const;
  absl::Status Error(const toml::node& node, std::string_view key, std::string_view what) const;
  // The dotted name of `key` in this table, e.g. "stages[2].level".
  std::string Name(std::string_view key) const;
  const std::string& path() const { return path_; }
  std::string_view source() const { return source_; }

 private:
  const toml::table& table_;
  std::string path_;
  std::string_view source_;
  std::set<std::string> taken_;
};

// Parses a settings file's text: ASCII only (Debian's toml++ 3.3 reaches
// __builtin_unreachable on some non-ASCII whitespace, found by fuzzing), and
// a syntax error names the line.
absl::StatusOr<toml::table> ParseToml(std::string_view text, std::string_view source);

}  // namespace aperture
