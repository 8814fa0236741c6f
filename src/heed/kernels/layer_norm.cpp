// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h): plain loops
// that GCC vectorises for each target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/layer_norm.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "heed/kernels/layer_norm.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

void LayerNormForward(const float* x, const float* w, const float* b, float* y, float* mean,
                      float* rstd, int64_t rows, int64_t cols, float eps) {
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) sum += xr[j];
    const float mu0 = sum / float(cols);
    // Two passes: the variance of shifted values does not cancel catastrophically. The second
    // pass also sums the shifted values, which corrects the float mean's own rounding (the
    // "corrected two-pass" algorithm): without it, inputs near 100 lost ~2e-5 of y.
    float shift_sum = 0.f, sq = 0.f;
#pragma omp simd reduction(+ : shift_sum, sq)
    for (int64_t j = 0; j < cols; ++j) {
      shift_sum += xr[j] - mu0;
      sq += (xr[j] - mu0) * (xr[j] - mu0);
    }
    const float correction = shift_sum / float(cols);
    const float mu = mu0 + correction;
    const float var = std::max(sq / float(cols) - correction * correction, 0.f);
    const float rs = 1.0f / std::sqrt(var + eps);
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - mu) * rs * w[j] + b[j];
    mean[r] = mu;
    rstd[r] = rs;
  }
}

// With xhat = (x - mean) * rstd and g = dy * w:
//   dx = rstd * (g - mean(g) - xhat * mean(g * xhat)),  dw = sum_rows dy * xhat,  db = sum_rows dy.
// dw and db are summed per thread over a fixed block of rows, then the blocks are added in order,
// so results are identical run to run for a given thread count.
void LayerNormBackward(const float* x, const float* w, const float* mean, const float* rstd,
                       const float* dy, float* dx, float* dw, float* db, int64_t rows,
                       int64_t cols, bool accumulate_dx) {
  const int threads = rows * cols > (1 << 14) ? omp_get_max_threads() : 1;
  std::vector<float> partial(dw || db ? size_t(threads) * 2 * cols : 0, 0.f);
#pragma omp parallel num_threads(threads)
  {
    const int t = omp_get_thread_num();
    float* pw = partial.empty() ? nullptr : partial.data() + size_t(t) * 2 * cols;
    float* pb = pw ? pw + cols : nullptr;
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols;
      const float* dyr = dy + r * cols;
      const float mu = mean[r], rs = rstd[r];
      float g_mean = 0.f, gx_mean = 0.f;
#pragma omp simd reduction(+ : g_mean, gx_mean)
      for (int64_t j = 0; j < cols; ++j) {
        const float g = dyr[j] * w[j];
        g_mean += g;
        gx_mean += g * (xr[j] - mu) * rs;
      }
      g_mean /= float(cols);
      gx_mean /= float(cols);
      if (dx) {
        float* dxr = dx + r * cols;
        if (accumulate_dx) {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j)
            dxr[j] += rs * (dyr[j] * w[j] - g_mean - (xr[j] - mu) * rs * gx_mean);
        } else {
#pragma omp simd
          for (int64_t j = 0; j < cols; ++j)
            dxr[j] = rs * (dyr[j] * w[j] - g_mean - (xr[j] - mu) * rs * gx_mean);
        }
      }
      if (pw) {
#pragma omp simd
        for (int64_t j = 0; j < cols; ++j) {
          pw[j] += dyr[j] * (xr[j] - mu) * rs;
          pb[j] += dyr[j];
        }
      }
    }
  }
  for (int t = 0; t < threads && !partial.empty(); ++t) {
    const float* pw = partial.data() + size_t(t) * 2 * cols;
    for (int64_t j = 0; j < cols; ++j) {
      if (dw) dw[j] += pw[j];
      if (db) db[j] += pw[cols + j];
    }
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(LayerNormForward);
HWY_EXPORT(LayerNormBackward);

void layer_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols, float eps) {
  HWY_DYNAMIC_DISPATCH(LayerNormForward)(x, w, b, y, mean, rstd, rows, cols, eps);
}
void layer_norm_backward(const float* x, const float* w, const float* mean, const float* rstd,
                         const float* dy, float* dx, float* dw, float* db, int64_t rows,
                         int64_t cols, bool accumulate_dx) {
  HWY_DYNAMIC_DISPATCH(LayerNormBackward)(x, w, mean, rstd, dy, dx, dw, db, rows, cols,
                                          accumulate_dx);
}
}  // namespace heed::kernels
#endif
