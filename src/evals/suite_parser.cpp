#include "evals/suite_parser.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/hash.h"
#include "core/json.h"
#include "core/status_macros.h"
#include "evals/regex.h"
#include "fmt/format.h"
#include "toml++/toml.h"

namespace aperture::evals {
namespace {

// Metadata as written, before validation; each value with the line it came from.
struct RawMeta {
  struct Value {
    std::string text;
    int line = 0;
  };
  std::optional<Value> name, domain, version, kind, scorer, description;
  std::string where;  // "x.toml" or "x.jsonl:1 (header line)": where missing keys are reported
  std::string file;   // the file the lines refer to
};

absl::Status ErrorAt(std::string_view file, int line, std::string_view message) {
  return absl::InvalidArgumentError(fmt::format("{}:{}: {}", file, line, message));
}

bool NameChars(std::string_view s, std::string_view extra) {
  for (char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    extra.find(c) != std::string_view::npos;
    if (!ok) return false;
  }
  return true;
}

// Stores `key` of the metadata from `value`; unknown keys are errors (typos must not pass).
absl::Status SetMeta(RawMeta& meta, std::string_view key, std::optional<std::string> value, int line) {
  std::optional<RawMeta::Value>* slot = nullptr;
  if (key == "name")
    slot = &meta.name;
  else if (key == "domain")
    slot = &meta.domain;
  else if (key == "version")
    slot = &meta.version;
  else if (key == "kind")
    slot = &meta.kind;
  else if (key == "scorer")
    slot = &meta.scorer;
  else if (key == "description")
    slot = &meta.description;
  else
    return ErrorAt(
        meta.file, line,
        fmt::format("'{}' is not a suite setting (known: name, domain, version, kind, scorer, description)", key));
  if (!value) return ErrorAt(meta.file, line, fmt::format("'{}' must be a string", key));
  *slot = RawMeta::Value{std::move(*value), line};
  return absl::OkStatus();
}

absl::StatusOr<RawMeta> ReadSidecar(std::string_view text, const std::string& file) {
  if (text.size() > kMaxSidecarBytes) {
    return absl::InvalidArgumentError(
        fmt::format("{}: the sidecar is {} bytes; at most {} are allowed", file, text.size(), kMaxSidecarBytes));
  }
  // ASCII only, as the config: it keeps Debian's toml++ 3.3 away from its
  // non-ASCII whitespace check, which reaches __builtin_unreachable.
  int line = 1;
  for (char c : text) {
    if (c == '\n') ++line;
    if (static_cast<unsigned char>(c) >= 0x80) {
      return ErrorAt(file, line, "only ASCII text is allowed in a suite's sidecar");
    }
  }
  toml::parse_result parsed = toml::parse(text, file);
  if (!parsed) {
    const toml::parse_error& err = parsed.error();
    return ErrorAt(file, static_cast<int>(err.source().begin.line), err.description());
  }
  RawMeta meta;
  meta.where = file;
  meta.file = file;
  for (const auto& [key, node] : parsed.table()) {
    std::optional<std::string> value;
    if (node.is_string()) value = *node.value<std::string>();
    RETURN_IF_ERROR(SetMeta(meta, key.str(), std::move(value), static_cast<int>(node.source().begin.line)));
  }
  return meta;
}

absl::StatusOr<RawMeta> ReadHeader(const Json& header, std::string_view source, int line) {
  RawMeta meta;
  meta.where = fmt::format("{}:{} (the header line)", source, line);
  meta.file = std::string(source);
  for (const auto& [key, value] : header.items()) {
    if (key != "suite") {
      return ErrorAt(source, line, fmt::format("the header line has '{}'; it holds only \"suite\": {{...}}", key));
    }
  }
  const Json& suite = header.at("suite");
  if (!suite.is_object()) return ErrorAt(source, line, "'suite' in the header line must be an object");
  for (const auto& [key, value] : suite.items()) {
    std::optional<std::string> text;
    if (value.is_string()) text = value.get<std::string>();
    RETURN_IF_ERROR(SetMeta(meta, key, std::move(text), line));
  }
  return meta;
}

// Checks the metadata and fills `info` (all but kind when the items decide it).
absl::Status ValidateMeta(const RawMeta& meta, SuiteInfo& info, bool& kind_given) {
  auto required = [&](const std::optional<RawMeta::Value>& v, std::string_view key,
                      std::string_view what) -> absl::Status {
    if (!v)
      return absl::InvalidArgumentError(fmt::format("{}: the suite's '{}' is required ({})", meta.where, key, what));
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(required(meta.name, "name", "e.g. \"arithmetic\""));
  RETURN_IF_ERROR(required(meta.domain, "domain", "the domain it measures, e.g. \"math\""));
  RETURN_IF_ERROR(required(meta.version, "version", "e.g. \"1.0\""));
  auto name_like = [&](const RawMeta::Value& v, std::string_view key, size_t max, std::string_view extra) {
    if (v.text.empty() || v.text.size() > max || !NameChars(v.text, extra)) {
      return ErrorAt(meta.file, v.line,
                     fmt::format("'{}' must be 1 to {} characters of letters, digits and \"{}\"", key, max, extra));
    }
    return absl::OkStatus();
  };
  RETURN_IF_ERROR(name_like(*meta.name, "name", 64, "._-"));
  RETURN_IF_ERROR(name_like(*meta.domain, "domain", 64, "._-"));
  RETURN_IF_ERROR(name_like(*meta.version, "version", 32, "._+-"));
  info.name = meta.name->text;
  info.domain = meta.domain->text;
  info.version = meta.version->text;
  if (meta.description) {
    if (meta.description->text.size() > 2000) {
      return ErrorAt(meta.file, meta.description->line, "'description' is longer than 2000 bytes");
    }
    info.description = meta.description->text;
  }
  kind_given = meta.kind.has_value();
  if (meta.kind) {
    std::optional<SuiteKind> kind = ParseSuiteKind(meta.kind->text);
    if (!kind) {
      return ErrorAt(
          meta.file, meta.kind->line,
          fmt::format("'kind' is \"{}\"; it must be \"multiple_choice\" or \"generation\"", meta.kind->text));
    }
    info.kind = *kind;
  }
  return absl::OkStatus();
}

// The scorer once the kind is known: given, or the kind's default.
absl::Status ResolveScorer(const RawMeta& meta, SuiteInfo& info) {
  const bool mc = info.kind == SuiteKind::kMultipleChoice;
  if (!meta.scorer) {
    info.scorer = mc ? Scorer::kLogLikelihood : Scorer::kExact;
    return absl::OkStatus();
  }
  std::optional<Scorer> scorer = ParseScorer(meta.scorer->text);
  if (!scorer) {
    return ErrorAt(meta.file, meta.scorer->line,
                   fmt::format("'scorer' is \"{}\"; it must be \"loglikelihood\" (multiple choice), \"exact\", "
                               "\"includes\" or \"regex\" (generation)",
                               meta.scorer->text));
  }
  if (mc != (*scorer == Scorer::kLogLikelihood)) {
    return ErrorAt(meta.file, meta.scorer->line,
                   mc ? fmt::format("scorer \"{}\" scores generated text, but this is a multiple-choice suite "
                                    "(scored by \"loglikelihood\")",
                                    meta.scorer->text)
                      : std::string("scorer \"loglikelihood\" is for multiple-choice suites; a generation suite is "
                                    "scored by \"exact\", \"includes\" or \"regex\""));
  }
  info.scorer = *scorer;
  return absl::OkStatus();
}

absl::StatusOr<McItem> ReadMcItem(const Json& item, std::string_view source, int line) {
  McItem out;
  auto question = item.find("question");
  if (question == item.end()) {
    return ErrorAt(source, line,
                   "'question' is required (a multiple-choice item is {\"question\", \"choices\", \"answer\"})");
  }
  if (!question->is_string()) return ErrorAt(source, line, "'question' must be a string");
  out.question = question->get<std::string>();
  if (out.question.empty()) return ErrorAt(source, line, "'question' is empty");

  auto choices = item.find("choices");
  if (choices == item.end()) return ErrorAt(source, line, "'choices' is required");
  if (!choices->is_array()) return ErrorAt(source, line, "'choices' must be an array of strings");
  if (choices->empty()) return ErrorAt(source, line, "'choices' is empty");
  if (choices->size() < 2 || choices->size() > static_cast<size_t>(kMaxChoices)) {
    return ErrorAt(source, line,
                   fmt::format("'choices' has {} choices; an item has 2 to {}", choices->size(), kMaxChoices));
  }
  for (size_t i = 0; i < choices->size(); ++i) {
    const Json& c = (*choices)[i];
    if (!c.is_string()) return ErrorAt(source, line, fmt::format("'choices'[{}] must be a string", i));
    out.choices.push_back(c.get<std::string>());
    if (out.choices.back().empty()) return ErrorAt(source, line, fmt::format("'choices'[{}] is empty", i));
  }

  auto answer = item.find("answer");
  if (answer == item.end()) return ErrorAt(source, line, "'answer' is required (the index of the right choice)");
  if (!answer->is_number_integer()) {
    return ErrorAt(source, line,
                   fmt::format("'answer' must be an integer index into 'choices' (0 to {}){}", out.choices.size() - 1,
                               answer->is_string() ? ", not a letter or a string" : ""));
  }
  const bool in_range =
      answer->is_number_unsigned()
          ? answer->get<uint64_t>() < out.choices.size()
          : answer->get<int64_t>() >= 0 && answer->get<int64_t>() < static_cast<int64_t>(out.choices.size());
  if (!in_range) {
    return ErrorAt(source, line,
                   fmt::format("'answer' is {}, outside 0 to {} (the index of the right choice)", DumpJson(*answer),
                               out.choices.size() - 1));
  }
  out.answer = static_cast<int>(answer->get<int64_t>());
  return out;
}

absl::StatusOr<GenItem> ReadGenItem(const Json& item, Scorer scorer, std::string_view source, int line) {
  GenItem out;
  auto input = item.find("input");
  if (input == item.end()) {
    return ErrorAt(source, line, "'input' is required (a generation item is {\"input\", \"target\"})");
  }
  if (!input->is_string()) return ErrorAt(source, line, "'input' must be a string");
  out.input = input->get<std::string>();
  if (out.input.empty()) return ErrorAt(source, line, "'input' is empty");
  auto target = item.find("target");
  if (target == item.end()) return ErrorAt(source, line, "'target' is required");
  if (!target->is_string()) return ErrorAt(source, line, "'target' must be a string");
  out.target = target->get<std::string>();
  if (out.target.empty()) return ErrorAt(source, line, "'target' is empty");
  if (scorer == Scorer::kRegex) {
    absl::StatusOr<Regex> re = Regex::Compile(out.target);
    if (!re.ok())
      return ErrorAt(source, line,
                     fmt::format("'target' is not a valid regex: {}", std::string(re.status().message())));
  }
  return out;
}

bool Blank(std::string_view line) { return line.find_first_not_of(" \t\r") == std::string_view::npos; }

}  // namespace

std::string SidecarPathFor(std::string_view jsonl_path) {
  constexpr std::string_view kExt = ".jsonl";
  if (jsonl_path.size() >= kExt.size() && jsonl_path.substr(jsonl_path.size() - kExt.size()) == kExt) {
    return fmt::format("{}.toml", jsonl_path.substr(0, jsonl_path.size() - kExt.size()));
  }
  return fmt::format("{}.toml", jsonl_path);
}

absl::StatusOr<Suite> ParseSuite(std::string_view jsonl, std::optional<std::string_view> sidecar_toml,
                                 std::string_view source) {
  if (jsonl.size() > kMaxSuiteBytes) {
    return absl::InvalidArgumentError(
        fmt::format("{}: the suite is {} bytes; at most {} are allowed", source, jsonl.size(), kMaxSuiteBytes));
  }
  std::optional<RawMeta> meta;
  if (sidecar_toml) {
    ASSIGN_OR_RETURN(meta, ReadSidecar(*sidecar_toml, SidecarPathFor(source)));
  }

  // The lines, with their numbers; blank lines are skipped.
  struct Line {
    std::string_view text;
    int number;
  };
  std::vector<Line> lines;
  int number = 0;
  for (size_t pos = 0; pos < jsonl.size();) {
    size_t end = jsonl.find('\n', pos);
    if (end == std::string_view::npos) end = jsonl.size();
    std::string_view text = jsonl.substr(pos, end - pos);
    pos = end + 1;
    ++number;
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (Blank(text)) continue;
    if (text.size() > kMaxSuiteLineBytes) {
      return ErrorAt(source, number,
                     fmt::format("the line is {} bytes; at most {} are allowed", text.size(), kMaxSuiteLineBytes));
    }
    lines.push_back({text, number});
  }

  Suite suite;
  bool kind_given = false;
  bool kind_known = false;
  size_t first_item = 0;
  std::vector<Json> objects;
  objects.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    absl::StatusOr<Json> value = ParseJson(lines[i].text);
    if (!value.ok()) {
      return ErrorAt(source, lines[i].number,
                     value.status().message().find("nested") != std::string_view::npos
                         ? std::string(value.status().message())
                         : std::string("the line is not valid JSON (each line holds one JSON object)"));
    }
    if (!value->is_object()) return ErrorAt(source, lines[i].number, "the line must be a JSON object");
    const bool header = value->contains("suite") && !value->contains("question") && !value->contains("input");
    if (header && i == 0) {
      if (meta) {
        return ErrorAt(source, lines[i].number,
                       fmt::format("the metadata is given twice: in this header line and in {}", meta->where));
      }
      ASSIGN_OR_RETURN(meta, ReadHeader(*value, source, lines[i].number));
      first_item = 1;
      continue;
    }
    if (header) {
      return ErrorAt(source, lines[i].number, "a header line (\"suite\") may only be the first line");
    }
    objects.push_back(std::move(*value));
  }
  if (!meta) {
    return absl::InvalidArgumentError(
        fmt::format("{}: no metadata: give a sidecar {} or a first line {{\"suite\": {{\"name\": ..., \"domain\": ..., "
                    "\"version\": ...}}}}",
                    source, SidecarPathFor(source)));
  }
  RETURN_IF_ERROR(ValidateMeta(*meta, suite.info, kind_given));
  kind_known = kind_given;
  if (objects.empty()) return absl::InvalidArgumentError(fmt::format("{}: the suite has no items", source));
  if (objects.size() > kMaxSuiteItems) {
    return absl::InvalidArgumentError(
        fmt::format("{}: the suite has {} items; at most {} are allowed", source, objects.size(), kMaxSuiteItems));
  }
  if (!kind_known) {
    const Json& first = objects.front();
    const int line = lines[first_item].number;
    if (first.contains("question")) {
      suite.info.kind = SuiteKind::kMultipleChoice;
    } else if (first.contains("input")) {
      suite.info.kind = SuiteKind::kGeneration;
    } else {
      return ErrorAt(source, line,
                     "an item needs \"question\" (multiple choice: question, choices, answer) or \"input\" "
                     "(generation: input, target)");
    }
  }
  RETURN_IF_ERROR(ResolveScorer(*meta, suite.info));

  for (size_t i = 0; i < objects.size(); ++i) {
    const int line = lines[first_item + i].number;
    if (suite.info.kind == SuiteKind::kMultipleChoice) {
      ASSIGN_OR_RETURN(McItem item, ReadMcItem(objects[i], source, line));
      suite.mc.push_back(std::move(item));
    } else {
      ASSIGN_OR_RETURN(GenItem item, ReadGenItem(objects[i], suite.info.scorer, source, line));
      suite.gen.push_back(std::move(item));
    }
  }
  suite.info.items = suite.size();
  std::string bytes(jsonl);
  if (sidecar_toml) bytes.append(*sidecar_toml);
  suite.info.sha256 = Sha256Hex(bytes);
  return suite;
}

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (ec) return absl::NotFoundError(fmt::format("cannot read {}: {}", path, ec.message()));
  if (size > max_bytes) {
    return absl::InvalidArgumentError(fmt::format("{} is {} bytes; at most {} are allowed", path, size, max_bytes));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(fmt::format("cannot open {}", path));
  std::ostringstream out;
  out << in.rdbuf();
  if (in.bad()) return absl::UnavailableError(fmt::format("error reading {}", path));
  return std::move(out).str();
}

}  // namespace

absl::StatusOr<Suite> LoadSuite(const std::string& path) {
  ASSIGN_OR_RETURN(std::string jsonl, ReadFile(path, kMaxSuiteBytes));
  const std::string sidecar_path = SidecarPathFor(path);
  std::optional<std::string> sidecar;
  std::error_code ec;
  if (std::filesystem::exists(sidecar_path, ec)) {
    ASSIGN_OR_RETURN(sidecar, ReadFile(sidecar_path, kMaxSidecarBytes));
  }
  return ParseSuite(jsonl, sidecar ? std::optional<std::string_view>(*sidecar) : std::nullopt, path);
}

}  // namespace aperture::evals
