#include "openness/osaid.h"

#include "distribution/licence_catalogue.h"
#include "fmt/format.h"

namespace aperture::openness {
namespace {

const ComponentVerdict* Find(const MofResult& mof, std::string_view id) {
  for (const ComponentVerdict& v : mof.components) {
    if (v.component->id == id) return &v;
  }
  return nullptr;
}

// Code must be under an OSI-approved licence, whatever MOF accepts for the component.
bool OsiApproved(const ComponentVerdict& v, std::string& why) {
  if (!v.counts) {
    why = v.why_not;
    return false;
  }
  const distribution::KnownLicence* known = distribution::FindKnownLicence(v.state.licence);
  if (known == nullptr || !known->osi_approved) {
    why = fmt::format("licence '{}' is not OSI-approved", v.state.licence);
    return false;
  }
  return true;
}

}  // namespace

OsaidResult CheckOsaid(const MofResult& mof) {
  OsaidResult result;
  {
    OsaidRequirement data{
        "Data information", false, {"datasets", "research-paper", "technical-report", "data-card"}, ""};
    for (const std::string& id : data.components) {
      const ComponentVerdict* v = Find(mof, id);
      if (v && v->counts) data.met = true;
    }
    if (!data.met) {
      data.why_not =
          "none of datasets, research paper, technical report or data card is available under an open licence";
    }
    result.requirements.push_back(std::move(data));
  }
  for (std::string_view id :
       {"data-preprocessing-code", "training-code", "inference-code", "supporting-libraries", "model-architecture"}) {
    const ComponentVerdict* v = Find(mof, id);
    OsaidRequirement code{fmt::format("Code: {}", v->component->name), false, {std::string(id)}, ""};
    code.met = OsiApproved(*v, code.why_not);
    result.requirements.push_back(std::move(code));
  }
  {
    const ComponentVerdict* v = Find(mof, "model-parameters-final");
    OsaidRequirement params{"Parameters: Model parameters (Final)", v->counts, {"model-parameters-final"}, v->why_not};
    result.requirements.push_back(std::move(params));
  }
  result.meets = true;
  for (const OsaidRequirement& r : result.requirements) result.meets = result.meets && r.met;
  return result;
}

}  // namespace aperture::openness
