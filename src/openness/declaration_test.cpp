#include "openness/declaration.h"

#include <gtest/gtest.h>

namespace aperture::openness {
namespace {

TEST(DeclarationTest, AValidDeclaration) {
  auto d = ParseDeclaration("data-card", {{"url", "https://example.org/data-card.md"},
                                          {"licence", "cc-by-4.0"},
                                          {"note", "Section 3 lists every source."}});
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->component, "data-card");
  EXPECT_EQ(d->licence, "CC-BY-4.0");
  auto bare = ParseDeclaration("technical-report", {{"url", "http://example.org/r.pdf"}});
  ASSERT_TRUE(bare.ok());
  EXPECT_EQ(bare->licence, "");
}

TEST(DeclarationTest, MalformedDeclarationsAreRefusedNamingTheField) {
  struct Case {
    std::string component;
    Json body;
    std::string field;
  };
  for (const Case& c : std::vector<Case>{
           {"weights", {{"url", "https://x"}}, "component"},
           {"data-card", Json::object(), "url"},
           {"data-card", {{"url", 5}}, "url"},
           {"data-card", {{"url", "ftp://x/y"}}, "url"},
           {"data-card", {{"url", "https://"}}, "url"},
           {"data-card", {{"url", "javascript:alert(1)"}}, "url"},
           {"data-card", {{"url", "https://x/a b"}}, "url"},
           {"data-card", {{"url", "https://x/\"><script>"}}, "url"},
           {"data-card", {{"url", "https://x/" + std::string(kMaxUrlBytes, 'a')}}, "url"},
           {"data-card", {{"url", "https://x"}, {"licence", "CC BY"}}, "licence"},
           {"data-card", {{"url", "https://x"}, {"note", std::string(kMaxNoteBytes + 1, 'n')}}, "note"},
           {"data-card", {{"url", "https://x"}, {"where", "y"}}, "where"},
       }) {
    auto r = ParseDeclaration(c.component, c.body);
    EXPECT_FALSE(r.ok()) << c.component << " " << c.body.dump().substr(0, 100);
    EXPECT_EQ(ErrorParam(r.status()), c.field) << r.status();
  }
  EXPECT_FALSE(ParseDeclaration("data-card", Json::array()).ok());
}

}  // namespace
}  // namespace aperture::openness
