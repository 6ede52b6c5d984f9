#include "report/access_stats.h"

#include <gtest/gtest.h>

namespace aperture::report {
namespace {

std::string Entry(const std::string& type, const std::string& actor, const std::string& model, const std::string& level,
                  const std::string& outcome, Json details) {
  return CanonicalJson({{"type", type},
                        {"time", 1},
                        {"actor", actor},
                        {"model", model},
                        {"level", level},
                        {"outcome", outcome},
                        {"reason", "ok"},
                        {"details", std::move(details)}});
}

TEST(AccessStatsTest, CountsEachKindOfEntryByLevel) {
  AccessStats stats;
  stats.Add(Entry("access.decision", "p1", "m", "api", "allow", {{"route", "chat.completions"}}));
  stats.Add(Entry("access.decision", "p1", "m", "api", "allow", {{"route", "completions"}}));
  stats.Add(Entry("access.decision", "p2", "m", "api", "allow", {{"route", "embeddings"}}));
  stats.Add(Entry("access.decision", "anonymous", "m", "api", "allow", {{"route", "chat.completions"}}));
  stats.Add(Entry("access.decision", "p3", "m", "api", "deny", {{"route", "completions"}}));
  stats.Add(Entry("access.decision", "p6", "m", "api", "error", {{"route", "completions"}}));
  stats.Add(Entry("completion", "p1", "m", "api", "ok", {{"prompt_tokens", 5}, {"completion_tokens", 7}}));
  stats.Add(Entry("embedding", "p2", "m", "api", "ok", {{"prompt_tokens", 3}}));
  stats.Add(Entry("access.decision", "p4", "m", "research", "allow", {{"route", "research.inspect"}}));
  stats.Add(Entry("access.decision", "p5", "m", "download", "allow", {{"route", "models.files.get"}}));
  stats.Add(Entry("download", "p5", "m", "download", "ok", {{"bytes_served", 1000}, {"file", "m.gguf"}}));
  stats.Add(Entry("access.decision", "p1", "other", "api", "allow", {{"route", "chat.completions"}}));
  stats.Add(Entry("key.created", "cli", "m", "", "ok", Json::object()));  // not access
  stats.Add("not json");
  stats.Add(Entry("completion", "p1", "m", "api", "ok", {{"prompt_tokens", "many"}}));  // no number: adds nothing

  Json m = stats.ToJson("m");
  EXPECT_EQ(m["api"]["requests"], 4);
  EXPECT_EQ(m["api"]["denied"], 1);
  EXPECT_EQ(m["api"]["failed"], 1);
  EXPECT_EQ(m["api"]["principals"], 2);  // p1, p2; anonymous, the denied p3 and the failed p6 are not counted
  EXPECT_EQ(m["api"]["tokens"], 15);
  EXPECT_EQ(m["research"]["research_queries"], 1);
  EXPECT_EQ(m["download"]["downloads"], 1);
  EXPECT_EQ(m["download"]["download_bytes"], 1000);
  EXPECT_FALSE(m.contains("none"));
  EXPECT_EQ(stats.ToJson("other")["api"]["requests"], 1);
  EXPECT_TRUE(stats.ToJson("missing").empty());
}

}  // namespace
}  // namespace aperture::report
