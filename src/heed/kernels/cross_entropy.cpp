// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/cross_entropy.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <limits>
#include <vector>

#include "heed/kernels/cross_entropy.h"
#include "heed/kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {
namespace {
int64_t counted_rows(const int64_t* targets, int64_t rows, int64_t ignore_index) {
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r) n += targets[r] != ignore_index;
  return n;
}

// sum_i w[t_i] over the counted rows, in row order.
double counted_weight(const int64_t* targets, int64_t rows, int64_t ignore_index, const float* w) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r)
    if (targets[r] != ignore_index) total += double(w[targets[r]]);
  return total;
}

double weight_sum(const float* w, int64_t classes) {
  double total = 0;
  for (int64_t c = 0; c < classes; ++c) total += double(w[c]);
  return total;
}

// sum_c exp(x[c] - m) and sum_c x[c], per-lane partial sums then across lanes. The last partial
// vector is padded with -inf for the exponentials and 0 for the plain sum.
std::pair<float, float> exp_sum_and_sum(const float* x, float m, int64_t classes) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  const auto shift = hn::Set(d, m);
  auto exp_sum = hn::Zero(d), sum = hn::Zero(d);
  int64_t c = 0;
  for (; c + lanes <= classes; c += lanes) {
    const auto v = hn::LoadU(d, x + c);
    exp_sum = hn::Add(exp_sum, Exp(d, hn::Sub(v, shift)));
    sum = hn::Add(sum, v);
  }
  if (c < classes) {
    const float neg_inf = -std::numeric_limits<float>::infinity();
    exp_sum = hn::Add(exp_sum, Exp(d, hn::Sub(LoadPart(d, x + c, classes - c, neg_inf), shift)));
    sum = hn::Add(sum, LoadPart(d, x + c, classes - c));
  }
  return {hn::GetLane(hn::SumOfLanes(d, exp_sum)), hn::GetLane(hn::SumOfLanes(d, sum))};
}
}  // namespace

float CrossEntropyForward(const float* logits, const int64_t* targets, float* lse, int64_t rows,
                          int64_t classes, int64_t ignore_index, float smoothing, const float* w) {
  std::vector<double> row_loss(size_t(rows), 0.0);
  const double all_weights = w ? weight_sum(w, classes) : 0.0;
#pragma omp parallel for schedule(static) if (rows * classes > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * classes;
    float m = x[0];
    for (int64_t c = 1; c < classes; ++c) m = x[c] > m ? x[c] : m;
    const auto [exp_sum, total] = exp_sum_and_sum(x, m, classes);
    lse[r] = m + std::log(exp_sum);
    if (targets[r] == ignore_index) continue;
    if (!w) {
      row_loss[size_t(r)] = (1.0 - smoothing) * (lse[r] - x[targets[r]]) +
                            smoothing * (lse[r] - total / float(classes));
      continue;
    }
    double weighted_x = 0;  // sum_c w[c] x[c]
    if (smoothing > 0.f)
      for (int64_t c = 0; c < classes; ++c) weighted_x += double(w[c]) * double(x[c]);
    row_loss[size_t(r)] = (1.0 - smoothing) * double(w[targets[r]]) * (lse[r] - x[targets[r]]) +
                          double(smoothing) / double(classes) * (double(lse[r]) * all_weights - weighted_x);
  }
  double loss = 0.0;  // summed in order: deterministic for any thread count
  for (double l : row_loss) loss += l;
  const double n = w ? counted_weight(targets, rows, ignore_index, w) : double(counted_rows(targets, rows, ignore_index));
  return n > 0 ? static_cast<float>(loss / n) : 0.f;
}

// One row of the backward: dx += scale * (exp(x - lse) - uniform), then the target's share.
// (A function of its own: see WeightedBackwardRow.)
HWY_NOINLINE void BackwardRow(const float* x, float* dx, int64_t target, float shift, float scale, float uniform,
                              int64_t classes, float smoothing) {
  Map2Acc(x, x, dx, classes, [&](auto d, auto xv, auto, auto acc) {
    const auto p = hn::Sub(Exp(d, hn::Sub(xv, hn::Set(d, shift))), hn::Set(d, uniform));
    return hn::MulAdd(hn::Set(d, scale), p, acc);
  });
  dx[target] -= scale * (1.0f - smoothing);
}

// One row of the weighted backward. A function of its own, not the body of the parallel loop:
// clang 14 outlines an OpenMP loop body without the SIMD target attribute here and then cannot
// select the target's instructions (roundps for SSE4) inside it.
HWY_NOINLINE void WeightedBackwardRow(const float* x, float* dx, int64_t target, float shift, float scale,
                                      float spread, float all_weights, int64_t classes, float smoothing,
                                      const float* w) {
  const float wt = w[target];
  const float p_scale = scale * ((1.0f - smoothing) * wt + spread * all_weights);
  Map2Acc(x, x, dx, classes, [&](auto d, auto xv, auto, auto acc) {
    return hn::MulAdd(hn::Set(d, p_scale), Exp(d, hn::Sub(xv, hn::Set(d, shift))), acc);
  });
  if (smoothing > 0.f)
    for (int64_t c = 0; c < classes; ++c) dx[c] -= scale * spread * w[c];
  dx[target] -= scale * (1.0f - smoothing) * wt;
}

// The weighted backward: dx += (g / W) ((1 - s) w[t] (p - onehot) + (s / C) (p sum_c w[c] - w)).
void WeightedBackward(const float* logits, const int64_t* targets, const float* lse, float g, float* dlogits,
                      int64_t rows, int64_t classes, int64_t ignore_index, float smoothing, const float* w) {
  const double total = counted_weight(targets, rows, ignore_index, w);
  if (!(total > 0)) return;
  const float scale = float(double(g) / total);
  const float spread = float(double(smoothing) / double(classes));
  const float all_weights = float(weight_sum(w, classes));
#pragma omp parallel for schedule(static) if (rows * classes > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] == ignore_index) continue;
    WeightedBackwardRow(logits + r * classes, dlogits + r * classes, targets[r], lse[r], scale, spread, all_weights,
                        classes, smoothing, w);
  }
}

void CrossEntropyBackward(const float* logits, const int64_t* targets, const float* lse, float g,
                          float* dlogits, int64_t rows, int64_t classes, int64_t ignore_index,
                          float smoothing, const float* w) {
  if (w) {
    WeightedBackward(logits, targets, lse, g, dlogits, rows, classes, ignore_index, smoothing, w);
    return;
  }
  const int64_t n = counted_rows(targets, rows, ignore_index);
  if (n == 0) return;
  const float scale = g / float(n);
  const float uniform = smoothing / float(classes);
#pragma omp parallel for schedule(static) if (rows * classes > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] == ignore_index) continue;
    BackwardRow(logits + r * classes, dlogits + r * classes, targets[r], lse[r], scale, uniform, classes, smoothing);
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(CrossEntropyForward);
HWY_EXPORT(CrossEntropyBackward);

float cross_entropy_forward(const float* logits, const int64_t* targets, float* lse, int64_t rows,
                            int64_t classes, int64_t ignore_index, float smoothing, const float* class_weight) {
  return HWY_DYNAMIC_DISPATCH(CrossEntropyForward)(logits, targets, lse, rows, classes,
                                                   ignore_index, smoothing, class_weight);
}
void cross_entropy_backward(const float* logits, const int64_t* targets, const float* lse, float g,
                            float* dlogits, int64_t rows, int64_t classes, int64_t ignore_index,
                            float smoothing, const float* class_weight) {
  HWY_DYNAMIC_DISPATCH(CrossEntropyBackward)(logits, targets, lse, g, dlogits, rows, classes,
                                             ignore_index, smoothing, class_weight);
}
}  // namespace heed::kernels
#endif
