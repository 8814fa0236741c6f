// The optimisers' per-element updates and gradient statistics, over contiguous buffers of n
// floats. Element-wise (or summed in a fixed order), so any thread count gives the same bits.
// Dispatched to the best SIMD target of the CPU (heed/kernels/simd.h); on targets with FMA
// (AVX2 and up) "fused" below is one rounding, matching PyTorch's AVX2 kernels bit for bit.
#pragma once

#include <cstdint>

namespace heed::kernels {

// The per-step scalars of AdamW, rounded to float where PyTorch rounds them.
struct AdamWCoefficients {
  float decay;  // 1 - lr * weight_decay
  float beta1;
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^t)
};

// torch.optim.AdamW's operations in its order and rounding: p *= decay; m = fused(m * beta1 +
// (1 - beta1) g); v = fused(v * beta2 + ((1 - beta2) g) g); p += neg_step_size * m /
// (sqrt(v) / bias_correction2_sqrt + eps).
void adamw_update(float* p, const float* g, float* m, float* v, int64_t n,
                  const AdamWCoefficients& c);

// torch.optim.SGD: d = fused(g + wd p); without momentum p = fused(p + neg_lr d); with it
// buf = buf * momentum (rounded) + d, then p = fused(p + neg_lr buf), or for Nesterov
// p = fused(p + neg_lr fused(d + momentum buf)).
void sgd_update(float* p, const float* g, int64_t n, float wd, float neg_lr);
void sgd_momentum_update(float* p, const float* g, float* buf, int64_t n, float wd, float momentum,
                         float neg_lr, bool nesterov);

// An exponential moving average's step, torch.lerp's rounding: avg = fused(avg + weight (p - avg))
// with weight = 1 - decay (torch.optim.swa_utils' EMA is avg.lerp_(p, 1 - decay)).
void ema_update(float* avg, const float* p, int64_t n, float weight);

// sum x^2 in double (a float sum over millions of squares would lose the small ones' share),
// in fixed blocks added in order.
double sum_of_squares(const float* x, int64_t n);
// False when x holds a NaN or an infinity.
bool all_finite(const float* x, int64_t n);

}  // namespace heed::kernels
