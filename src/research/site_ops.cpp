#include "research/site_ops.h"

#include <cmath>
#include <numeric>

namespace aperture::research {
namespace {

using engine::SiteShape;

std::vector<int> AllUpTo(int n) {
  std::vector<int> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

}  // namespace

int64_t SiteValuesBytes(const SiteRef& site, const engine::LlamaConfig& c, int positions) {
  const SiteDims d = DimsOf(site.shape(), c);
  if (site.shape() == SiteShape::kHeadsByKey) return int64_t{4} * d.heads * positions * positions;
  return int64_t{4} * d.width * positions;
}

SiteValues::SiteValues(const SiteRef& site, const engine::LlamaConfig& c, int positions)
    : shape_(site.shape()), n_(positions) {
  const SiteDims d = DimsOf(shape_, c);
  heads_ = d.heads;
  width_ = shape_ == SiteShape::kHeadsByKey ? 0 : d.width;
  data_.assign(SiteValuesBytes(site, c, positions) / sizeof(float), 0.f);
}

void SiteValues::Take(const engine::ActivationView& v) {
  if (shape_ == SiteShape::kHeadsByKey) {
    const int q = v.position[0];
    if (q >= n_) return;
    for (int h = 0; h < v.rows; ++h)
      std::copy_n(v.row(h), v.cols, data_.data() + (static_cast<size_t>(h) * n_ + q) * n_);
    return;
  }
  for (int r = 0; r < v.rows; ++r) {
    const int p = v.position[r];
    if (p < n_) std::copy_n(v.row(r), width_, data_.data() + static_cast<size_t>(p) * width_);
  }
}

void SiteValues::AddRows(std::vector<double>& sum, int64_t& count) const {
  sum.resize(width_, 0.0);
  for (int p = 0; p < n_; ++p) {
    const float* x = row(p);
    for (int i = 0; i < width_; ++i) sum[i] += x[i];
  }
  count += n_;
}

void ApplyIntervention(const SiteIntervention& iv, const SiteDims& dims, const engine::ActivationView& v,
                       const SiteValues* source) {
  auto selected = [&](int p) {
    return iv.at_position.empty() || (p < static_cast<int>(iv.at_position.size()) && iv.at_position[p]);
  };
  if (iv.site.shape() == SiteShape::kHeadsByKey) {  // one query token: rows are heads, columns its keys
    const int q = v.position[0];
    if (!selected(q)) return;
    if (iv.op == Op::kPatch && (source == nullptr || q >= source->positions())) return;
    const int ctx = v.cols;
    auto write = [&](int h, int k) {
      float& x = v.row(h)[k];
      switch (iv.op) {
        case Op::kScale:
          x *= iv.scale;
          break;
        case Op::kZero:
          x = 0.f;
          break;
        case Op::kPatch:
          x = source->keys(h, q)[k];
          break;
        default:  // add, set and mean are refused for these sites by planning
          break;
      }
    };
    for (int h = 0; h < v.rows; ++h) {
      if (!iv.heads.empty() && std::find(iv.heads.begin(), iv.heads.end(), h) == iv.heads.end()) continue;
      if (iv.neurons.empty()) {
        for (int k = 0; k < ctx; ++k) write(h, k);
      } else {
        for (int k : iv.neurons)
          if (k < ctx) write(h, k);
      }
    }
    return;
  }
  const int heads = std::max(dims.heads, 1);
  const int last = dims.last;
  for (int r = 0; r < v.rows; ++r) {
    const int p = v.position[r];
    if (!selected(p)) continue;
    if (iv.op == Op::kPatch && (source == nullptr || p >= source->positions())) continue;
    float* row = v.row(r);
    const float* src = iv.op == Op::kPatch ? source->row(p) : nullptr;
    auto write = [&](int h, int j) {
      const int i = h * last + j;
      switch (iv.op) {
        case Op::kAdd:
          row[i] += iv.scale * iv.vector[j];
          break;
        case Op::kSet:
          row[i] = iv.vector[j];
          break;
        case Op::kScale:
          row[i] *= iv.scale;
          break;
        case Op::kZero:
          row[i] = 0.f;
          break;
        case Op::kMean:
          row[i] = iv.mean[i];
          break;
        case Op::kPatch:
          row[i] = src[i];
          break;
      }
    };
    for (int h = 0; h < heads; ++h) {
      if (!iv.heads.empty() && std::find(iv.heads.begin(), iv.heads.end(), h) == iv.heads.end()) continue;
      if (iv.neurons.empty()) {
        for (int j = 0; j < last; ++j) write(h, j);
      } else {
        for (int j : iv.neurons) write(h, j);
      }
    }
  }
}

std::shared_ptr<const engine::Hooks> SteeringHooks(std::vector<SiteIntervention> interventions,
                                                   const engine::LlamaConfig& c) {
  auto owned = std::make_shared<const std::vector<SiteIntervention>>(std::move(interventions));
  auto hooks = std::make_shared<engine::Hooks>();
  for (const SiteIntervention& iv : *owned) {
    hooks->Add(iv.site.point, iv.site.layer,
               [owned, &iv, dims = DimsOf(iv.site.shape(), c)](const engine::ActivationView& v) {
                 ApplyIntervention(iv, dims, v, nullptr);
               });
  }
  return hooks;
}

Capturer::Capturer(const SiteCapture& capture, const engine::LlamaConfig& c, int positions)
    : capture_(capture), shape_(capture.site.shape()), dims_(DimsOf(shape_, c)), n_(positions) {
  const bool by_key = shape_ == SiteShape::kHeadsByKey;
  masked_scores_ = capture.site.point == engine::HookPoint::kAttnScores;
  const int heads = capture.ungroup ? c.n_heads : dims_.heads;
  group_ = capture.ungroup ? c.n_heads / c.n_kv_heads : 1;
  heads_ = capture.heads.empty() ? AllUpTo(heads) : capture.heads;
  if (heads_.empty()) heads_ = {0};  // sites without heads: one "head" row
  neurons_ = capture.neurons.empty() ? AllUpTo(by_key ? n_ : dims_.last) : capture.neurons;
  slots_.resize(n_);
  const std::vector<int> positions_wanted = capture.positions.empty() ? AllUpTo(n_) : capture.positions;
  for (size_t s = 0; s < positions_wanted.size(); ++s) slots_[positions_wanted[s]].push_back(static_cast<int>(s));
  per_slot_ = static_cast<int64_t>(heads_.size()) * (capture.norm ? 1 : static_cast<int64_t>(neurons_.size()));
  vals_.resize(per_slot_);
  int64_t total = 1;
  for (int64_t d : capture.shape) total *= d;
  if (capture.mean) {
    sum_.assign(per_slot_, 0.0);
  } else {
    out_.assign(total, 0.f);
  }
}

void Capturer::Select(const engine::ActivationView& v, int r) {
  const bool by_key = shape_ == SiteShape::kHeadsByKey;
  const int ctx = by_key ? v.cols : 0;
  const float masked = masked_scores_ ? -INFINITY : 0.f;
  int64_t o = 0;
  for (int h : heads_) {
    const float* x = by_key ? v.row(h) : v.row(r) + static_cast<int64_t>(h / group_) * dims_.last;
    if (capture_.norm) {
      double ss = 0;
      for (int j : neurons_) {
        if (by_key && j >= ctx) continue;  // the norm is over the keys the query sees
        ss += static_cast<double>(x[j]) * x[j];
      }
      vals_[o++] = static_cast<float>(std::sqrt(ss));
    } else {
      for (int j : neurons_) vals_[o++] = by_key && j >= ctx ? masked : x[j];
    }
  }
}

void Capturer::Store(int slot) {
  const int64_t slots = static_cast<int64_t>(capture_.positions.empty() ? n_ : capture_.positions.size());
  if (shape_ == SiteShape::kHeadsByKey) {  // [head][slot][...]
    const int64_t inner = per_slot_ / static_cast<int64_t>(heads_.size());
    for (size_t h = 0; h < heads_.size(); ++h) {
      std::copy_n(vals_.data() + h * inner, inner, out_.data() + (static_cast<int64_t>(h) * slots + slot) * inner);
    }
    return;
  }
  std::copy_n(vals_.data(), per_slot_, out_.data() + static_cast<int64_t>(slot) * per_slot_);
}

void Capturer::Take(const engine::ActivationView& v) {
  const bool by_key = shape_ == SiteShape::kHeadsByKey;
  const int rows = by_key ? 1 : v.rows;
  for (int r = 0; r < rows; ++r) {
    const int p = v.position[r];
    if (p >= n_ || slots_[p].empty()) continue;
    Select(v, r);
    if (capture_.mean) {
      for (int64_t i = 0; i < per_slot_; ++i) sum_[i] += static_cast<double>(vals_[i]) * slots_[p].size();
      selected_ += static_cast<int64_t>(slots_[p].size());
    } else {
      for (int slot : slots_[p]) Store(slot);
    }
  }
}

std::vector<float> Capturer::Finish() {
  if (!capture_.mean) return std::move(out_);
  std::vector<float> out(per_slot_);
  for (int64_t i = 0; i < per_slot_; ++i) out[i] = static_cast<float>(sum_[i] / std::max<int64_t>(selected_, 1));
  return out;
}

}  // namespace aperture::research
