#include "evals/suite_parser.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "core/hash.h"
#include "gtest/gtest.h"

namespace aperture::evals {
namespace {

constexpr char kMcSidecar[] = R"(name = "tiny-mc"
domain = "reading"
version = "1.0"
description = "two items"
)";

constexpr char kMcItems[] =
    R"({"question": "Tom has a red ball. What color is the ball?", "choices": ["red", "blue", "green"], "answer": 0, "subject": "extra fields are ignored"}
{"question": "The cat sleeps on the bed. Where does the cat sleep?", "choices": ["on the bed", "in the tree"], "answer": 0}
)";

constexpr char kGenHeader[] =
    R"({"suite": {"name": "sums", "domain": "math", "version": "2", "scorer": "regex"}}
{"input": "2 + 2 =", "target": "^\\s*4\\b"}

{"input": "3 + 4 =", "target": "7"}
)";

// Expects `status` to be InvalidArgument and its message to contain every piece.
void ExpectError(const absl::Status& status, std::initializer_list<std::string_view> pieces) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  for (std::string_view piece : pieces) {
    EXPECT_NE(std::string(status.message()).find(piece), std::string::npos) << "'" << piece << "' not in: " << status;
  }
}

absl::Status McError(std::string_view items, std::string_view sidecar = kMcSidecar) {
  return ParseSuite(items, sidecar, "s.jsonl").status();
}

TEST(SuiteParserTest, ReadsMultipleChoiceWithASidecar) {
  absl::StatusOr<Suite> s = ParseSuite(kMcItems, std::string_view(kMcSidecar), "dir/s.jsonl");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->info.name, "tiny-mc");
  EXPECT_EQ(s->info.domain, "reading");
  EXPECT_EQ(s->info.version, "1.0");
  EXPECT_EQ(s->info.description, "two items");
  EXPECT_EQ(s->info.kind, SuiteKind::kMultipleChoice);
  EXPECT_EQ(s->info.scorer, Scorer::kLogLikelihood);
  EXPECT_EQ(s->info.items, 2u);
  ASSERT_EQ(s->mc.size(), 2u);
  EXPECT_TRUE(s->gen.empty());
  EXPECT_EQ(s->mc[0].choices, (std::vector<std::string>{"red", "blue", "green"}));
  EXPECT_EQ(s->mc[1].question, "The cat sleeps on the bed. Where does the cat sleep?");
  EXPECT_EQ(s->mc[1].answer, 0);
  EXPECT_EQ(s->info.sha256, Sha256Hex(std::string(kMcItems) + kMcSidecar));
}

TEST(SuiteParserTest, ReadsGenerationWithAHeaderLineSkippingBlankLines) {
  absl::StatusOr<Suite> s = ParseSuite(kGenHeader, std::nullopt, "g.jsonl");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->info.name, "sums");
  EXPECT_EQ(s->info.kind, SuiteKind::kGeneration);
  EXPECT_EQ(s->info.scorer, Scorer::kRegex);
  ASSERT_EQ(s->gen.size(), 2u);
  EXPECT_EQ(s->gen[0].target, "^\\s*4\\b");
  EXPECT_EQ(s->gen[1].input, "3 + 4 =");
  EXPECT_EQ(s->info.sha256, Sha256Hex(kGenHeader));
}

TEST(SuiteParserTest, GenerationDefaultsToExactAndAcceptsCrLf) {
  absl::StatusOr<Suite> s = ParseSuite(
      "{\"suite\": {\"name\": \"a\", \"domain\": \"b\", \"version\": \"1\"}}\r\n{\"input\": \"x\", \"target\": "
      "\"y\"}\r\n",
      std::nullopt, "g.jsonl");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->info.scorer, Scorer::kExact);
  EXPECT_EQ(s->gen[0].target, "y");
}

TEST(SuiteParserTest, BadItemsNameTheLineAndLoadNothing) {
  const std::string good = R"({"question": "q", "choices": ["a", "b"], "answer": 1})";
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 1\n"),
              {"s.jsonl:2:", "not valid JSON"});
  ExpectError(McError(good + "\n" + good + "\n[1, 2]\n"), {"s.jsonl:3:", "must be a JSON object"});
  ExpectError(McError(good + "\n{\"choices\": [\"a\", \"b\"], \"answer\": 0}\n"),
              {"s.jsonl:2:", "'question' is required"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"answer\": 0}\n"), {"s.jsonl:2:", "'choices' is required"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"]}\n"),
              {"s.jsonl:2:", "'answer' is required"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 2}\n"),
              {"s.jsonl:2:", "'answer' is 2, outside 0 to 1"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": -1}\n"),
              {"s.jsonl:2:", "'answer' is -1"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": \"A\"}\n"),
              {"s.jsonl:2:", "'answer' must be an integer", "not a letter"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 1.0}\n"),
              {"s.jsonl:2:", "'answer' must be an integer"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": true}\n"),
              {"s.jsonl:2:", "'answer' must be an integer"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [], \"answer\": 0}\n"),
              {"s.jsonl:2:", "'choices' is empty"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\"], \"answer\": 0}\n"),
              {"s.jsonl:2:", "has 1 choices; an item has 2 to 32"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": \"a,b\", \"answer\": 0}\n"),
              {"s.jsonl:2:", "'choices' must be an array of strings"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", 7], \"answer\": 0}\n"),
              {"s.jsonl:2:", "'choices'[1] must be a string"});
  ExpectError(McError(good + "\n{\"question\": \"q\", \"choices\": [\"a\", \"\"], \"answer\": 0}\n"),
              {"s.jsonl:2:", "'choices'[1] is empty"});
  ExpectError(McError(good + "\n{\"question\": 5, \"choices\": [\"a\", \"b\"], \"answer\": 0}\n"),
              {"s.jsonl:2:", "'question' must be a string"});
  ExpectError(McError(good + "\n{\"question\": \"\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n"),
              {"s.jsonl:2:", "'question' is empty"});
  // Line numbers count blank lines.
  ExpectError(McError(good + "\n\n\n{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 9}\n"),
              {"s.jsonl:4:"});
  // A generation item in a multiple-choice suite.
  ExpectError(McError(good + "\n{\"input\": \"x\", \"target\": \"y\"}\n"), {"s.jsonl:2:", "'question' is required"});
  // Too deep.
  ExpectError(McError(std::string(100, '[') + std::string(100, ']') + "\n"), {"s.jsonl:1:", "nested"});
  // Not UTF-8.
  ExpectError(McError("{\"question\": \"\xff\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n"), {"s.jsonl:1:"});
}

TEST(SuiteParserTest, BadGenerationItems) {
  const std::string header = R"({"suite": {"name": "g", "domain": "d", "version": "1", "scorer": "regex"}})";
  auto error = [&](std::string_view line) {
    return ParseSuite(header + "\n{\"input\": \"a\", \"target\": \"b\"}\n" + std::string(line) + "\n", std::nullopt,
                      "g.jsonl")
        .status();
  };
  ExpectError(error(R"({"input": "x", "target": "(unclosed"})"),
              {"g.jsonl:3:", "'target' is not a valid regex", "offset"});
  ExpectError(error(R"({"input": "x"})"), {"g.jsonl:3:", "'target' is required"});
  ExpectError(error(R"({"target": "x"})"), {"g.jsonl:3:", "'input' is required"});
  ExpectError(error(R"({"input": ["x"], "target": "y"})"), {"g.jsonl:3:", "'input' must be a string"});
  ExpectError(error(R"({"input": "x", "target": 4})"), {"g.jsonl:3:", "'target' must be a string"});
  ExpectError(error(R"({"input": "x", "target": ""})"), {"g.jsonl:3:", "'target' is empty"});
  ExpectError(error(R"({"suite": {"name": "again"}})"), {"g.jsonl:3:", "header line", "first line"});
}

TEST(SuiteParserTest, BadOrMissingMetadata) {
  const std::string item = R"({"question": "q", "choices": ["a", "b"], "answer": 0})";
  ExpectError(ParseSuite(item + "\n", std::nullopt, "s.jsonl").status(), {"s.jsonl: no metadata", "s.toml"});
  ExpectError(McError(item, "domain = \"d\"\nversion = \"1\"\n"), {"s.toml", "'name' is required"});
  ExpectError(McError(item, "name = \"n\"\nversion = \"1\"\n"), {"s.toml", "'domain' is required"});
  ExpectError(McError(item, "name = \"n\"\ndomain = \"d\"\n"), {"s.toml", "'version' is required"});
  ExpectError(McError(item, "name = \"n\"\ndomain = \"d\"\nversion = 1\n"),
              {"s.toml:3:", "'version' must be a string"});
  ExpectError(McError(item, "name = \"has space\"\ndomain = \"d\"\nversion = \"1\"\n"),
              {"s.toml:1:", "'name' must be"});
  ExpectError(McError(item, "name = \"n\"\ndomain = \"d\"\nversion = \"1\"\nnmae = \"x\"\n"),
              {"s.toml:4:", "'nmae' is not a suite setting"});
  ExpectError(McError(item, "name = \"n\"\ndomain = \"d\"\nversion = \"1\"\nkind = \"essay\"\n"),
              {"s.toml:4:", "'kind' is \"essay\""});
  ExpectError(McError(item, "name = \"n\"\ndomain = \"d\"\nversion = \"1\"\nscorer = \"exact\"\n"),
              {"s.toml:4:", "multiple-choice suite"});
  ExpectError(McError(item, "name = \"n\"\ndomain = \"d\"\n\nversion = \"1\n"), {"s.toml:4:"});  // TOML syntax
  ExpectError(McError(item, "name = \"n\xc3\xa9\"\ndomain = \"d\"\nversion = \"1\"\n"), {"s.toml:1:", "ASCII"});
  ExpectError(McError("", kMcSidecar), {"s.jsonl: the suite has no items"});
  // Both a sidecar and a header line.
  ExpectError(McError(R"({"suite": {"name": "n", "domain": "d", "version": "1"}})"
                      "\n" +
                      item + "\n"),
              {"s.jsonl:1:", "given twice"});
  // Header problems.
  auto header = [&](std::string_view h) {
    return ParseSuite(std::string(h) + "\n" + item + "\n", std::nullopt, "h.jsonl").status();
  };
  ExpectError(header(R"({"suite": {"name": "n", "domain": "d"}})"),
              {"h.jsonl:1 (the header line)", "'version' is required"});
  ExpectError(header(R"({"suite": "n"})"), {"h.jsonl:1:", "must be an object"});
  ExpectError(header(R"({"suite": {"name": "n", "domain": "d", "version": "1"}, "extra": 1})"),
              {"h.jsonl:1:", "'extra'"});
  ExpectError(header(R"({"suite": {"name": "n", "domain": "d", "version": "1", "scorer": "regex"}})"),
              {"h.jsonl:1:", "multiple-choice suite"});
  // A generation suite cannot use the loglikelihood scorer.
  ExpectError(ParseSuite("{\"suite\": {\"name\": \"n\", \"domain\": \"d\", \"version\": \"1\", \"scorer\": "
                         "\"loglikelihood\"}}\n{\"input\": \"a\", \"target\": \"b\"}\n",
                         std::nullopt, "g.jsonl")
                  .status(),
              {"g.jsonl:1:", "for multiple-choice suites"});
  // Neither format.
  ExpectError(McError(R"({"prompt": "x", "completion": "y"})"), {"s.jsonl:1:", "an item needs \"question\""});
}

TEST(SuiteParserTest, LoadSuiteFindsTheSidecarBesideTheFile) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / "aperture_suite_parser_test";
  std::filesystem::create_directories(dir);
  const std::string jsonl = (dir / "mc.jsonl").string();
  std::ofstream(jsonl) << kMcItems;
  std::ofstream((dir / "mc.toml").string()) << kMcSidecar;
  absl::StatusOr<Suite> s = LoadSuite(jsonl);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->info.name, "tiny-mc");
  EXPECT_EQ(s->info.sha256, Sha256Hex(std::string(kMcItems) + kMcSidecar));
  std::filesystem::remove(dir / "mc.toml");
  ExpectError(LoadSuite(jsonl).status(), {"no metadata"});
  EXPECT_EQ(LoadSuite((dir / "missing.jsonl").string()).status().code(), absl::StatusCode::kNotFound);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(SidecarPathFor("a/b.jsonl"), "a/b.toml");
  EXPECT_EQ(SidecarPathFor("a/b.txt"), "a/b.txt.toml");
}

}  // namespace
}  // namespace aperture::evals
