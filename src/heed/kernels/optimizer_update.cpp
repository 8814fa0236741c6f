// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h). Plain loops
// that GCC vectorises for each target; what matters here is where they round.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/optimizer_update.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "heed/kernels/optimizer_update.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {
namespace {
// Below this many elements an OpenMP parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;

// a + alpha * b, rounded once where the target has FMA: PyTorch's AVX2 kernels compute
// add(alpha=) and addcmul's final step with fmadd, so this keeps the optimisers bit-identical
// to torch.optim there. Without FMA it rounds twice (a few ulp apart), which beats a libm fma().
#if HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3 || HWY_TARGET == HWY_EMU128 || \
    HWY_TARGET == HWY_SCALAR
inline float fused_add(float a, float alpha, float b) { return a + alpha * b; }
#else
inline float fused_add(float a, float alpha, float b) { return std::fma(alpha, b, a); }
#endif
}  // namespace

void AdamWUpdate(float* p, const float* g, float* m, float* v, int64_t n,
                 const AdamWCoefficients& c) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    const float decayed = p[i] * c.decay;
    const float mi = fused_add(m[i] * c.beta1, c.one_minus_beta1, g[i]);
    const float vi = fused_add(v[i] * c.beta2, c.one_minus_beta2 * g[i], g[i]);
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / c.bias_correction2_sqrt + c.eps;
    p[i] = decayed + c.neg_step_size * mi / denom;
  }
}

// Writing buf * momentum + d as fused_add(.., 1, d) also stops the compiler from contracting it
// into one fma, which would round differently from torch's mul_ then add_.
void SgdUpdate(float* p, const float* g, int64_t n, float wd, float neg_lr) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) p[i] = fused_add(p[i], neg_lr, fused_add(g[i], wd, p[i]));
}

void SgdMomentumUpdate(float* p, const float* g, float* buf, int64_t n, float wd, float momentum,
                       float neg_lr, bool nesterov) {
  if (nesterov) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float d = fused_add(g[i], wd, p[i]);
      buf[i] = fused_add(buf[i] * momentum, 1.0f, d);
      p[i] = fused_add(p[i], neg_lr, fused_add(d, momentum, buf[i]));
    }
  } else {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) {
      const float d = fused_add(g[i], wd, p[i]);
      buf[i] = fused_add(buf[i] * momentum, 1.0f, d);
      p[i] = fused_add(p[i], neg_lr, buf[i]);
    }
  }
}

void EmaUpdate(float* avg, const float* p, int64_t n, float weight) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) avg[i] = fused_add(avg[i], weight, p[i] - avg[i]);
}

double SumOfSquares(const float* x, int64_t n) {
  // Fixed blocks, each summed by one thread, added in block order: the same bits for any
  // thread count (an OpenMP reduction combines the threads' sums in no fixed order).
  constexpr int64_t kBlock = 1 << 14;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(size_t(blocks), 0.0);
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t b = 0; b < blocks; ++b) {
    double acc = 0.0;
    const int64_t end = std::min(n, (b + 1) * kBlock);
#pragma omp simd reduction(+ : acc)
    for (int64_t i = b * kBlock; i < end; ++i) acc += double(x[i]) * double(x[i]);
    partial[size_t(b)] = acc;
  }
  double total = 0.0;
  for (double s : partial) total += s;
  return total;
}

// x * 0 is 0 for finite x and NaN for NaN and +-inf, so a plain sum detects both; unlike a loop
// with an early exit, it vectorises.
bool AllFinite(const float* x, int64_t n) {
  float acc = 0.0f;
#pragma omp parallel for simd schedule(static) reduction(+ : acc) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) acc += x[i] * 0.0f;
  return acc == 0.0f;
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(AdamWUpdate);
HWY_EXPORT(SgdUpdate);
HWY_EXPORT(SgdMomentumUpdate);
HWY_EXPORT(EmaUpdate);
HWY_EXPORT(SumOfSquares);
HWY_EXPORT(AllFinite);

void adamw_update(float* p, const float* g, float* m, float* v, int64_t n,
                  const AdamWCoefficients& c) {
  HWY_DYNAMIC_DISPATCH(AdamWUpdate)(p, g, m, v, n, c);
}
void sgd_update(float* p, const float* g, int64_t n, float wd, float neg_lr) {
  HWY_DYNAMIC_DISPATCH(SgdUpdate)(p, g, n, wd, neg_lr);
}
void sgd_momentum_update(float* p, const float* g, float* buf, int64_t n, float wd, float momentum,
                         float neg_lr, bool nesterov) {
  HWY_DYNAMIC_DISPATCH(SgdMomentumUpdate)(p, g, buf, n, wd, momentum, neg_lr, nesterov);
}
void ema_update(float* avg, const float* p, int64_t n, float weight) {
  HWY_DYNAMIC_DISPATCH(EmaUpdate)(avg, p, n, weight);
}
double sum_of_squares(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(SumOfSquares)(x, n); }
bool all_finite(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(AllFinite)(x, n); }
}  // namespace heed::kernels
#endif
