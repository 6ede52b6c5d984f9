// What research hooks do at a site: write an intervention into the engine's
// view of it, keep a site's every value (the source of a patch or of a
// computed mean), and capture the values a request asked for straight into
// its result tensor, in TransformerLens's shape, with heads, neurons and
// positions selected and the norm and mean taken as the rows go by (so a
// capture holds no more than its result).
//
// Views are one input's rows (engine::PerEntryHooks gives each input its
// own), each with its position in the input's sequence.
//
// Thread-safety: not thread-safe; one forward pass at a time uses them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/model/hooks.h"
#include "research/plan.h"

namespace aperture::research {

// One site's values at every position of one input: rows of `width`
// floats by position, or for the attention weights [head][query][key]
// (keys past the query left at 0).
class SiteValues {
 public:
  SiteValues(const SiteRef& site, const engine::LlamaConfig& c, int positions);
  void Take(const engine::ActivationView& v);
  const float* row(int position) const { return data_.data() + static_cast<size_t>(position) * width_; }
  const float* keys(int head, int query) const { return data_.data() + (static_cast<size_t>(head) * n_ + query) * n_; }
  int positions() const { return n_; }
  // The mean over every position of each row entry (heads * last floats;
  // not for the attention weights), added into sum with count.
  void AddRows(std::vector<double>& sum, int64_t& count) const;
  size_t bytes() const { return data_.size() * sizeof(float); }

 private:
  engine::SiteShape shape_;
  int n_, width_, heads_;
  std::vector<float> data_;
};

// Bytes a SiteValues of this site takes for `positions` positions.
int64_t SiteValuesBytes(const SiteRef& site, const engine::LlamaConfig& c, int positions);

// Writes `iv` into the view's rows at the positions it selects; a patch
// copies from `source` (positions the source lacks are left alone).
void ApplyIntervention(const SiteIntervention& iv, const SiteDims& dims, const engine::ActivationView& v,
                       const SiteValues* source);

// Hooks that apply `interventions` (none copying from another input) at
// every forward pass they see: steering a generation. They own the
// interventions.
std::shared_ptr<const engine::Hooks> SteeringHooks(std::vector<SiteIntervention> interventions,
                                                   const engine::LlamaConfig& c);

// A capture's result tensor, filled as the rows go by.
class Capturer {
 public:
  Capturer(const SiteCapture& capture, const engine::LlamaConfig& c, int positions);
  void Take(const engine::ActivationView& v);
  // The tensor (the mean divided out); call once, after the pass.
  std::vector<float> Finish();
  const SiteCapture& capture() const { return capture_; }

 private:
  // The selected values of one row (one position), norms taken: into vals_.
  void Select(const engine::ActivationView& v, int r);
  void Store(int slot);

  SiteCapture capture_;
  engine::SiteShape shape_;
  SiteDims dims_;
  int group_ = 1;  // query heads per KV head
  int n_;
  std::vector<int> heads_;               // source rows (KV heads for ungrouped k/v)
  std::vector<int> neurons_;             // last-dimension indices (keys for attention weights)
  std::vector<std::vector<int>> slots_;  // per position: the output slots it fills
  int64_t per_slot_ = 0;                 // values one position contributes
  int64_t selected_ = 0;                 // positions counted into a mean
  std::vector<float> vals_;
  std::vector<double> sum_;
  std::vector<float> out_;
  bool masked_scores_ = false;
};

}  // namespace aperture::research
