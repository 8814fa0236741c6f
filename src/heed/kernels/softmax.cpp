// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/softmax.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <limits>

#include "heed/kernels/softmax.h"
#include "heed/kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {
namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float row_max(const float* x, int64_t cols) {
  float m = kNegInf;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < cols; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// y = exp(x - m) for a finite m; returns the sum (per-lane partial sums, then across lanes).
// The last partial vector is padded with -inf, whose exp is 0.
float exp_shifted(const float* x, float m, float* y, int64_t cols) {
  const hn::ScalableTag<float> d;
  const int64_t lanes = int64_t(hn::Lanes(d));
  const auto shift = hn::Set(d, m);
  auto sum = hn::Zero(d);
  int64_t j = 0;
  for (; j + lanes <= cols; j += lanes) {
    const auto e = Exp(d, hn::Sub(hn::LoadU(d, x + j), shift));
    hn::StoreU(e, d, y + j);
    sum = hn::Add(sum, e);
  }
  if (j < cols) {
    const auto e = Exp(d, hn::Sub(LoadPart(d, x + j, cols - j, kNegInf), shift));
    StorePart(d, e, y + j, cols - j);
    sum = hn::Add(sum, e);
  }
  return hn::GetLane(hn::SumOfLanes(d, sum));
}

bool parallel_rows(int64_t rows, int64_t cols) { return rows > 1 && rows * cols > (1 << 14); }
}  // namespace

void SoftmaxForward(const float* x, float* y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (parallel_rows(rows, cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(xr, cols);
    if (m == kNegInf) {  // fully masked row
      for (int64_t j = 0; j < cols; ++j) yr[j] = 0.f;
      continue;
    }
    const float inv = 1.0f / exp_shifted(xr, m, yr, cols);
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  }
}

void SoftmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (parallel_rows(rows, cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float dot = 0.f;
#pragma omp simd reduction(+ : dot)
    for (int64_t j = 0; j < cols; ++j) dot += dyr[j] * yr[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) dxr[j] += yr[j] * (dyr[j] - dot);
  }
}

void LogSoftmaxForward(const float* x, float* y, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (parallel_rows(rows, cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const float m = row_max(xr, cols);
    if (m == kNegInf) {
      for (int64_t j = 0; j < cols; ++j) yr[j] = kNegInf;
      continue;
    }
    const float lse = m + std::log(exp_shifted(xr, m, yr, cols));
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) yr[j] = xr[j] - lse;
  }
}

void LogSoftmaxBackward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (parallel_rows(rows, cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) sum += dyr[j];
    // dx += dy - exp(y) * sum
    Map2Acc(yr, dyr, dxr, cols, [sum](auto d, auto yv, auto g, auto acc) {
      return hn::Add(acc, hn::NegMulAdd(Exp(d, yv), hn::Set(d, sum), g));
    });
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(SoftmaxForward);
HWY_EXPORT(SoftmaxBackward);
HWY_EXPORT(LogSoftmaxForward);
HWY_EXPORT(LogSoftmaxBackward);

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxForward)(x, y, rows, cols);
}
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(SoftmaxBackward)(y, dy, dx, rows, cols);
}
void log_softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(LogSoftmaxForward)(x, y, rows, cols);
}
void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  HWY_DYNAMIC_DISPATCH(LogSoftmaxBackward)(y, dy, dx, rows, cols);
}
}  // namespace heed::kernels
#endif
