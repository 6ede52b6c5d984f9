#include "distribution/licence_terms.h"

#include <gtest/gtest.h>

#include "distribution/licence_catalogue.h"

namespace aperture::distribution {
namespace {

TEST(LicenceTermsTest, AnSpdxLicenceGetsItsCanonicalIdNameAndTheDefaultGate) {
  auto terms = ParseLicenceTerms({{"spdx_id", "apache-2.0"}, {"text", "Apache License\nVersion 2.0"}});
  ASSERT_TRUE(terms.ok()) << terms.status();
  EXPECT_EQ(terms->spdx_id, "Apache-2.0");
  EXPECT_EQ(terms->name, "Apache License 2.0");
  EXPECT_EQ(terms->accept_levels, LevelMask({Level::kDownload}));
}

TEST(LicenceTermsTest, ACustomLicenceHasATitleAndChosenGates) {
  auto terms = ParseLicenceTerms(
      {{"name", "Acme Research Licence"}, {"text", "Research only."}, {"accept_levels", {"api", "download"}}});
  ASSERT_TRUE(terms.ok()) << terms.status();
  EXPECT_EQ(terms->spdx_id, "");
  EXPECT_EQ(terms->name, "Acme Research Licence");
  EXPECT_EQ(MaskLevels(terms->accept_levels), (std::vector<Level>{Level::kApi, Level::kDownload}));
  auto none = ParseLicenceTerms({{"name", "x"}, {"text", "y"}, {"accept_levels", Json::array()}});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->accept_levels, 0u);
}

TEST(LicenceTermsTest, MalformedLicencesAreRefusedNamingTheField) {
  struct Case {
    Json body;
    std::string field;
  };
  const std::string big(kMaxLicenceTextBytes + 1, 'a');
  for (const Case& c : std::vector<Case>{
           {Json::object(), "text"},
           {{{"text", "t"}}, "name"},
           {{{"spdx_id", "Apache 2.0"}, {"text", "t"}}, "spdx_id"},
           {{{"spdx_id", 7}, {"text", "t"}}, "spdx_id"},
           {{{"spdx_id", "MIT"}, {"text", ""}}, "text"},
           {{{"spdx_id", "MIT"}, {"text", big}}, "text"},
           {{{"spdx_id", "MIT"}, {"text", "t"}, {"accept_levels", "download"}}, "accept_levels"},
           {{{"spdx_id", "MIT"}, {"text", "t"}, {"accept_levels", {"open"}}}, "accept_levels"},
           {{{"spdx_id", "MIT"}, {"text", "t"}, {"accept_levels", {"closed"}}}, "accept_levels"},
           {{{"spdx_id", "MIT"}, {"text", "t"}, {"accept_levels", {"everyone"}}}, "accept_levels"},
           {{{"spdx_id", "MIT"}, {"text", "t"}, {"accept_levels", {1}}}, "accept_levels"},
           {{{"name", std::string(300, 'n')}, {"text", "t"}}, "name"},
           {{{"spdx_id", "MIT"}, {"text", "t"}, {"licence", "x"}}, "licence"},
       }) {
    auto r = ParseLicenceTerms(c.body);
    EXPECT_FALSE(r.ok()) << c.body.dump();
    EXPECT_EQ(ErrorParam(r.status()), c.field) << c.body.dump() << " " << r.status();
  }
  EXPECT_FALSE(ParseLicenceTerms(Json::array()).ok());
  // Invalid UTF-8 that reached us some other way than a JSON body (the CLI reads files).
  EXPECT_FALSE(ParseLicenceTerms({{"name", "x"}, {"text", std::string("\xC3(")}}).ok());
}

TEST(LicenceCatalogueTest, KnowsOpenAndRestrictiveLicences) {
  const KnownLicence* apache = FindKnownLicence("APACHE-2.0");
  ASSERT_NE(apache, nullptr);
  EXPECT_TRUE(apache->osi_approved);
  const KnownLicence* cdla = FindKnownLicence("CDLA-Permissive-2.0");
  ASSERT_NE(cdla, nullptr);
  EXPECT_TRUE(cdla->open_data);
  EXPECT_FALSE(cdla->osi_approved);
  const KnownLicence* nc = FindKnownLicence("CC-BY-NC-4.0");
  ASSERT_NE(nc, nullptr);
  EXPECT_FALSE(nc->osi_approved || nc->open_data || nc->open_content);
  EXPECT_FALSE(nc->restriction.empty());
  EXPECT_EQ(FindKnownLicence("Llama-Community"), nullptr);
  EXPECT_TRUE(IsSpdxId("GPL-2.0+"));
  EXPECT_TRUE(IsSpdxId("LicenseRef-acme-1"));
  EXPECT_FALSE(IsSpdxId("+GPL"));
  EXPECT_FALSE(IsSpdxId("MIT OR Apache-2.0"));
  EXPECT_FALSE(IsSpdxId(""));
}

}  // namespace
}  // namespace aperture::distribution
