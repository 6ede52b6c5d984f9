// The Model Openness Framework's rules on fixtures, the OSAID checklist, the
// badge, and the claim that Aperture's own code is under its LICENSE.
#include "openness/mof.h"

#include <gtest/gtest.h>

#include <fstream>

#include "openness/badge.h"
#include "openness/openness_service.h"
#include "openness/osaid.h"

namespace aperture::openness {
namespace {

ComponentState Served(std::string licence, Source source = Source::kVerified) {
  ComponentState s;
  s.source = source;
  s.public_access = true;
  s.to_whom = "everyone";
  s.licence = std::move(licence);
  return s;
}

// Every Class III component, each under a licence open for its kind.
std::map<std::string, ComponentState> ClassThree(const std::string& weights_licence) {
  return {{"model-architecture", Served("MIT")},
          {"model-parameters-final", Served(weights_licence)},
          {"technical-report", Served("CC-BY-4.0", Source::kDeclared)},
          {"evaluation-results", Served(weights_licence)},
          {"model-card", Served(weights_licence)},
          {"data-card", Served("CC-BY-4.0", Source::kDeclared)}};
}

const ComponentVerdict& Verdict(const MofResult& r, std::string_view id) {
  for (const ComponentVerdict& v : r.components) {
    if (v.component->id == id) return v;
  }
  ADD_FAILURE() << id;
  return r.components.front();
}

TEST(MofTest, SeventeenComponentsInThreeClasses) {
  ASSERT_EQ(MofComponents().size(), 17u);
  int required[4] = {0, 0, 0, 0}, optional = 0;
  for (const MofComponent& c : MofComponents()) {
    if (c.required)
      ++required[c.mof_class];
    else
      ++optional;
  }
  EXPECT_EQ(required[3], 6);
  EXPECT_EQ(required[2], 4);
  EXPECT_EQ(required[1], 4);
  EXPECT_EQ(optional, 3);
  EXPECT_NE(FindMofComponent("data-card"), nullptr);
  EXPECT_EQ(FindMofComponent("weights"), nullptr);
}

TEST(MofTest, NothingKnownReachesNoClass) {
  MofResult r = EvaluateMof({});
  EXPECT_EQ(r.reached, 0);
  EXPECT_EQ(r.status, "in progress");
  EXPECT_EQ(r.classes[0].percent, 0);
  EXPECT_EQ(r.classes[0].required, 6);
  EXPECT_EQ(r.classes[1].required, 10);
  EXPECT_EQ(r.classes[2].required, 14);
  EXPECT_EQ(r.classes[0].missing.size(), 6u);
}

TEST(MofTest, OpenDataWeightsQualifyAndOsiWeightsAreConditional) {
  MofResult data = EvaluateMof(ClassThree("CDLA-Permissive-2.0"));
  // The card and evaluation results under CDLA (a data licence) do not count: documents need an open content licence.
  EXPECT_EQ(data.reached, 0);
  auto states = ClassThree("CDLA-Permissive-2.0");
  states["model-card"] = Served("CC-BY-4.0");
  states["evaluation-results"] = Served("CC-BY-4.0");
  data = EvaluateMof(states);
  EXPECT_EQ(data.reached, 3);
  EXPECT_EQ(data.status, "qualified");
  EXPECT_EQ(data.declared_counted, 2);

  MofResult apache = EvaluateMof(ClassThree("Apache-2.0"));
  EXPECT_EQ(apache.reached, 3);
  EXPECT_EQ(apache.status, "conditional");
  EXPECT_TRUE(Verdict(apache, "model-parameters-final").conditional);
  EXPECT_EQ(apache.classes[1].status, "in progress");
  EXPECT_EQ(apache.classes[1].percent, 60);  // 6 of 10
}

TEST(MofTest, RestrictiveLicencesDoNotCountAndSayWhy) {
  auto states = ClassThree("Apache-2.0");
  states["model-parameters-final"] = Served("");
  states["model-parameters-final"].licence_name = "Acme Research Licence";
  MofResult custom = EvaluateMof(states);
  EXPECT_EQ(custom.reached, 0);
  const ComponentVerdict& w = Verdict(custom, "model-parameters-final");
  EXPECT_FALSE(w.counts);
  EXPECT_NE(w.why_not.find("Acme Research Licence"), std::string::npos) << w.why_not;
  EXPECT_NE(w.why_not.find("not a recognised open licence"), std::string::npos) << w.why_not;
  EXPECT_NE(custom.classes[0].missing[0].find("Model parameters (Final)"), std::string::npos);

  states["model-parameters-final"] = Served("CC-BY-NC-4.0");
  const MofResult non_commercial = EvaluateMof(states);
  const ComponentVerdict& nc = Verdict(non_commercial, "model-parameters-final");
  EXPECT_FALSE(nc.counts);
  EXPECT_NE(nc.why_not.find("forbids commercial use"), std::string::npos) << nc.why_not;
  states["model-parameters-final"] = Served("");
  EXPECT_NE(Verdict(EvaluateMof(states), "model-parameters-final").why_not.find("no licence"), std::string::npos);
}

TEST(MofTest, OnlyPublicComponentsCount) {
  auto states = ClassThree("Apache-2.0");
  states["model-parameters-final"].public_access = false;
  states["model-parameters-final"].to_whom = "principals granted download";
  MofResult r = EvaluateMof(states);
  EXPECT_EQ(r.reached, 0);
  EXPECT_NE(Verdict(r, "model-parameters-final").why_not.find("principals granted download"), std::string::npos);
}

TEST(MofTest, ClassesAreCumulative) {
  auto states = ClassThree("Apache-2.0");
  for (const char* id : {"training-code", "inference-code", "evaluation-code"}) states[id] = Served("MIT");
  states["evaluation-data"] = Served("CC-BY-4.0");
  EXPECT_EQ(EvaluateMof(states).reached, 2);
  // Class II's own components without Class III's are not Class II.
  states.erase("data-card");
  MofResult r = EvaluateMof(states);
  EXPECT_EQ(r.reached, 0);
  EXPECT_EQ(r.classes[1].counted, 9);
  for (const char* id : {"research-paper", "datasets", "data-preprocessing-code", "model-parameters-intermediate"}) {
    states[id] = Served(std::string(id) == "data-preprocessing-code" ? "MIT" : "CC-BY-4.0");
  }
  states["data-card"] = Served("CC-BY-4.0");
  EXPECT_EQ(EvaluateMof(states).reached, 1);
}

TEST(OsaidTest, NeedsDataInformationCodeAndParameters) {
  auto states = ClassThree("Apache-2.0");
  OsaidResult r = CheckOsaid(EvaluateMof(states));
  EXPECT_FALSE(r.meets);
  EXPECT_TRUE(r.requirements[0].met);  // the data card
  for (const char* id : {"training-code", "inference-code", "data-preprocessing-code", "supporting-libraries"}) {
    states[id] = Served("Apache-2.0");
  }
  r = CheckOsaid(EvaluateMof(states));
  EXPECT_TRUE(r.meets) << r.requirements.size();
  states["training-code"] = Served("CC-BY-4.0");  // open, but not an OSI-approved licence for code
  r = CheckOsaid(EvaluateMof(states));
  EXPECT_FALSE(r.meets);
}

TEST(BadgeTest, ShowsTheClassOrTheProgress) {
  std::string reached = OpennessBadge(EvaluateMof(ClassThree("Apache-2.0")));
  EXPECT_NE(reached.find("<svg"), std::string::npos);
  EXPECT_NE(reached.find("Class III conditional"), std::string::npos);
  std::string progress = OpennessBadge(EvaluateMof({}));
  EXPECT_NE(progress.find("Class III 0%"), std::string::npos);
}

TEST(ServerLicenceTest, AperturesOwnCodeIsUnderItsLicenceFile) {
  std::ifstream in(APERTURE_SOURCE_DIR "/LICENSE");
  std::string first_line;
  std::getline(in, first_line);
  EXPECT_EQ(first_line, "MIT License");
  EXPECT_STREQ(kServerLicence, "MIT");
}

}  // namespace
}  // namespace aperture::openness
