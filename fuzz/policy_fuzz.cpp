// Fuzzes the release policy parser: any text gives a Policy or an error, and
// a policy that parses gives every decision, over a few kinds of evidence,
// without crashing (ASan and UBSan check the arithmetic on times).
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string_view>

#include "policy/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace aperture::policy;
  using aperture::Level;
  auto p = ParsePolicy(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml",
                       APERTURE_SOURCE_DIR "/examples");
  if (!p.ok()) return 0;
  constexpr int64_t kNow = 1'800'000'000;
  for (double score : {0.0, 0.5, 1.0}) {
    Evidence e;
    for (const Domain& d : p->domains) {
      for (const SuiteRule& s : d.suites) e.evals.push_back({s.name, "r", score, kNow - 86400});
    }
    if (score == 0.5 && !e.evals.empty()) e.evals.pop_back();  // one domain unknown
    e.findings.push_back({"f", score == 1.0 ? Severity::kCritical : Severity::kHigh, score != 0.0, "t"});
    const Ceiling c = ComputeCeiling(*p, e);
    for (Level held : aperture::kAllLevels) {
      (void)SuspensionMessage(held, c);
      (void)HeldBelow(c, held);
    }
    for (int64_t since : {int64_t{0}, kNow - 1, std::numeric_limits<int64_t>::max()}) {
      for (Level at : {Level::kClosed, Level::kStaged, Level::kApi}) {
        const ReleaseState state{at, since};
        for (Level target : aperture::kAllLevels) (void)EvaluateProposal(*p, e, state, target, kNow);
        (void)PlanStatus(*p, e, state, kNow);
        (void)AutoAdvance(*p, e, state, kNow);
      }
    }
  }
  return 0;
}
