#include "report/report_html.h"

#include <gtest/gtest.h>

namespace aperture::report {
namespace {

TEST(ReportHtmlTest, EscapesEverythingAndLinksOnlySafeUrls) {
  Json report = Json::object();
  report["model"] = "m<1>";
  report["computed_at"] = "2026-01-01T00:00:00Z";
  report["checkpoint"] = {{"size", 3}, {"origin", "o"}, {"root", "r"}, {"note", "n"}};
  report["release"] = {{"public_level", "download"},
                       {"ceiling", "open"},
                       {"history", Json::array()},
                       {"ceiling_history", Json::array()}};
  report["evaluations"] = Json::array();
  report["findings"] = {{"total", 0}, {"by_state", Json::object()}, {"by_severity", Json::object()}};
  report["access"] = {{"counted_over_entries", "[0, 3)"}, {"by_level", {{"api", {{"requests", 2}}}}}};
  report["licence"] = {{"name", "<script>alert(1)</script>"},
                       {"spdx_id", nullptr},
                       {"sha256", "ab"},
                       {"accept_levels", Json::array({"download"})},
                       {"text", "/v1/models/m/licence"}};
  report["manifest"] = nullptr;
  Json declared = {{"name", "Data card"},    {"source", "declared"},           {"to_whom", "everyone"},
                   {"licence", "CC-BY-4.0"}, {"where", "javascript:alert(1)"}, {"counts", true}};
  Json report_link = {
      {"name", "Technical report"},          {"source", "declared"}, {"to_whom", "everyone"},  {"licence", nullptr},
      {"where", "https://example.org/r\"x"}, {"counts", false},      {"why_not", "no licence"}};
  report["openness"] = {{"class", {{"reached", nullptr}, {"status", "in progress"}}},
                        {"osaid", {{"meets", false}}},
                        {"components", Json::array({declared, report_link})}};
  const std::string html = ReportHtml(report);
  EXPECT_EQ(html.find("<script>"), std::string::npos);
  EXPECT_NE(html.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(html.find("m&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(html.find("href=\"javascript:"), std::string::npos);
  EXPECT_NE(html.find("href=\"https://example.org/r&quot;x\""), std::string::npos);
  EXPECT_NE(html.find("<td>api</td><td>–</td><td>2</td>"), std::string::npos);
}

}  // namespace
}  // namespace aperture::report
