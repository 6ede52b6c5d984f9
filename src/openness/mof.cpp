#include "openness/mof.h"

#include "distribution/licence_catalogue.h"
#include "fmt/format.h"

namespace aperture::openness {
namespace {

constexpr std::array<MofComponent, 17> kComponents = {{
    {"model-architecture", "Model architecture", 3, true, kCode},
    {"model-parameters-final", "Model parameters (Final)", 3, true, kData | kCode},
    {"technical-report", "Technical report", 3, true, kDocument | kCode},
    {"evaluation-results", "Evaluation results", 3, true, kDocument | kCode},
    {"model-card", "Model card", 3, true, kDocument | kCode},
    {"data-card", "Data card", 3, true, kDocument | kCode},
    {"sample-model-outputs", "Sample model outputs", 3, false, kData | kCode | kDocument},
    {"training-code", "Training code", 2, true, kCode},
    {"inference-code", "Inference code", 2, true, kCode},
    {"evaluation-code", "Evaluation code", 2, true, kCode},
    {"evaluation-data", "Evaluation data", 2, true, kData},
    {"supporting-libraries", "Supporting libraries and tools", 2, false, kCode},
    {"research-paper", "Research paper", 1, true, kDocument},
    {"datasets", "Datasets", 1, true, kData | kCode | kDocument},
    {"data-preprocessing-code", "Data preprocessing code", 1, true, kCode},
    {"model-parameters-intermediate", "Model parameters (Intermediate)", 1, true, kData},
    {"model-metadata", "Model metadata", 1, false, kData},
}};

const char* ClassName(int c) {
  switch (c) {
    case 3:
      return "Class III - Open Model";
    case 2:
      return "Class II - Open Tooling";
    default:
      return "Class I - Open Science";
  }
}

std::string KindsText(unsigned kinds) {
  std::vector<std::string> parts;
  if (kinds & kData) parts.push_back("an open data licence");
  if (kinds & kCode) parts.push_back("an OSI-approved licence");
  if (kinds & kDocument) parts.push_back("an open content licence");
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += i + 1 == parts.size() ? " or " : ", ";
    out += parts[i];
  }
  return out;
}

// Whether `state`'s licence is open for the component's kinds; sets
// `conditional` when only an OSI-approved licence makes final parameters open.
bool LicenceOpen(const MofComponent& c, const ComponentState& state, bool& conditional, std::string& why) {
  conditional = false;
  const std::string label = state.licence.empty()
                                ? (state.licence_name.empty() ? "" : fmt::format("'{}' (custom)", state.licence_name))
                                : fmt::format("'{}'", state.licence);
  if (label.empty()) {
    why = fmt::format("no licence is stated; MOF requires {}", KindsText(c.kinds));
    return false;
  }
  const distribution::KnownLicence* known =
      state.licence.empty() ? nullptr : distribution::FindKnownLicence(state.licence);
  if (known == nullptr) {
    why = fmt::format("licence {} is not a recognised open licence; MOF requires {}", label, KindsText(c.kinds));
    return false;
  }
  const bool data = (c.kinds & kData) && known->open_data;
  const bool code = (c.kinds & kCode) && known->osi_approved;
  const bool document = (c.kinds & kDocument) && known->open_content;
  if (data || code || document) {
    conditional = c.id == "model-parameters-final" && !data && code;
    return true;
  }
  if (!known->restriction.empty()) {
    why =
        fmt::format("licence {} {}, so it is not open; MOF requires {}", label, known->restriction, KindsText(c.kinds));
  } else {
    why = fmt::format("licence {} is not {}", label, KindsText(c.kinds));
  }
  return false;
}

}  // namespace

const std::array<MofComponent, 17>& MofComponents() { return kComponents; }

const MofComponent* FindMofComponent(std::string_view id) {
  for (const MofComponent& c : kComponents) {
    if (c.id == id) return &c;
  }
  return nullptr;
}

std::string_view SourceName(Source source) {
  switch (source) {
    case Source::kNone:
      return "none";
    case Source::kVerified:
      return "verified";
    case Source::kDeclared:
      return "declared";
  }
  return "none";
}

MofResult EvaluateMof(const std::map<std::string, ComponentState>& states) {
  MofResult result;
  for (const MofComponent& c : kComponents) {
    ComponentVerdict v;
    v.component = &c;
    auto it = states.find(std::string(c.id));
    if (it != states.end()) v.state = it->second;
    if (v.state.source == Source::kNone) {
      v.why_not = "not available: this server does not serve it and the owner has not declared it";
    } else if (!v.state.public_access) {
      v.why_not = fmt::format("not available to everyone (only to {})", v.state.to_whom);
    } else {
      std::string why;
      v.counts = LicenceOpen(c, v.state, v.conditional, why);
      if (!v.counts) v.why_not = std::move(why);
    }
    if (v.counts && v.state.source == Source::kDeclared) ++result.declared_counted;
    result.components.push_back(std::move(v));
  }
  // Classes are cumulative: Class II needs Class III's components too.
  bool conditional_used = false;
  for (int i = 0; i < 3; ++i) {
    const int cls = 3 - i;
    ClassVerdict& verdict = result.classes[i];
    verdict.mof_class = cls;
    verdict.name = ClassName(cls);
    for (const ComponentVerdict& v : result.components) {
      if (!v.component->required || v.component->mof_class < cls) continue;
      ++verdict.required;
      if (v.counts) {
        ++verdict.counted;
        conditional_used = conditional_used || v.conditional;
      } else {
        verdict.missing.push_back(fmt::format("{}: {}", v.component->name, v.why_not));
      }
    }
    verdict.percent = verdict.required == 0 ? 100 : verdict.counted * 100 / verdict.required;
    if (verdict.counted < verdict.required) {
      verdict.status = "in progress";
    } else {
      verdict.status = conditional_used ? "conditional" : "qualified";
      result.reached = cls;
    }
  }
  result.status = result.reached == 0 ? "in progress" : result.classes[3 - result.reached].status;
  return result;
}

}  // namespace aperture::openness
