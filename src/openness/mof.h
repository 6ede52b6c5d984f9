// The Model Openness Framework (MOF, LF AI & Data, arXiv:2403.13784) as
// decisions over what is known of a model's components: its 17 components,
// the three cumulative classes, and the class a model reaches.
//
//   Class III, Open Model:    model architecture, final parameters, technical
//                             report, evaluation results, model card, data
//                             card (sample model outputs optional)
//   Class II, Open Tooling:   Class III and training, inference and evaluation
//                             code and evaluation data (supporting libraries
//                             and tools optional)
//   Class I, Open Science:    Class II and the research paper, datasets, data
//                             preprocessing code and intermediate parameters
//                             (model metadata optional)
//
// A component counts when it is available to everyone under a licence that
// is open for its kind: OSI-approved for code, an open data licence for data,
// an open content licence for documents (components that mix kinds accept
// either, as the Model Openness Tool does). A class is "qualified" when every
// required component of it and of the classes below it counts; "conditional"
// when that holds only because the final parameters are under an OSI-approved
// software licence rather than an open data licence (the Tool's conditional
// pass); otherwise it is "in progress" with the share of its required
// components that count. Each component that does not count says why.
//
// Usage:
//   std::map<std::string, ComponentState> states = ...;  // by component id
//   MofResult r = EvaluateMof(states);
//
// Thread-safety: pure functions over immutable data.
#pragma once

#include <array>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace aperture::openness {

enum ContentKind : unsigned { kCode = 1, kData = 2, kDocument = 4 };

struct MofComponent {
  std::string_view id;    // "model-architecture"
  std::string_view name;  // "Model architecture"
  int mof_class;          // 3 (Open Model), 2 (Open Tooling) or 1 (Open Science)
  bool required;          // optional components never block a class
  unsigned kinds;         // ContentKind bits whose open licences it accepts
};

const std::array<MofComponent, 17>& MofComponents();
// nullptr for an unknown id.
const MofComponent* FindMofComponent(std::string_view id);

// What is known of one component of one model.
enum class Source {
  kNone,      // nothing known: not available
  kVerified,  // this server serves or runs it
  kDeclared,  // the owner says it is at a link
};
std::string_view SourceName(Source source);

struct ComponentState {
  Source source = Source::kNone;
  bool public_access = false;  // available to everyone (a gate at licence acceptance is fine)
  std::string to_whom;         // in words: "everyone", "principals with a download grant", ...
  std::string licence;         // SPDX id, "" when none is stated
  std::string licence_name;    // for a custom licence: its title
  std::string where;           // a URL, or the route that serves it
  std::string evidence;        // what the server checked
};

// How one component fares under the framework.
struct ComponentVerdict {
  const MofComponent* component = nullptr;
  ComponentState state;
  bool counts = false;       // available to everyone under an open licence of its kind
  bool conditional = false;  // counts only as the Tool's conditional pass
  std::string why_not;       // when it does not count
};

struct ClassVerdict {
  int mof_class = 3;
  std::string name;    // "Class III - Open Model"
  std::string status;  // "qualified", "conditional" or "in progress"
  int counted = 0;     // required components (this class and those below) that count
  int required = 0;
  int percent = 0;                   // counted * 100 / required, rounded down
  std::vector<std::string> missing;  // the components that do not count, with why
};

struct MofResult {
  std::vector<ComponentVerdict> components;  // the 17, in MofComponents() order
  std::array<ClassVerdict, 3> classes;       // III, II, I
  int reached = 0;                           // 3, 2, 1, or 0 when no class is reached
  std::string status;                        // the reached class's status, or "in progress"
  int declared_counted = 0;                  // how many counted components rest on declarations
};

MofResult EvaluateMof(const std::map<std::string, ComponentState>& states);

}  // namespace aperture::openness
