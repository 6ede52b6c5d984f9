// Fuzzes the release policy parser: any text gives a Policy or an error, and
// a policy that parses gives decisions without crashing.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aperture::policy;
  auto p = ParsePolicy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml",
                       APERTURE_SOURCE_DIR "/examples");
  if (!p.ok()) return 0;
  Evidence e;
  for (const Domain& d : p->domains) {
    for (const SuiteRule& s : d.suites) e.evals.push_back({s.name, "r", 0.5, 1000});
  }
  e.findings.push_back({"f", Severity::kHigh, true, "t"});
  (void)ComputeCeiling(*p, e);
  for (aperture::Level l : aperture::kAllLevels) (void)EvaluateProposal(*p, e, {aperture::Level::kStaged, 0}, l, 5000);
  (void)PlanStatus(*p, e, {aperture::Level::kClosed, 0}, 5000);
  (void)AutoAdvance(*p, e, {aperture::Level::kClosed, 0}, 5000);
  return 0;
}
