#include "heed/kernels/softmax.h"

#include <cmath>
#include <limits>

#include "heed/kernels/fast_math.h"

namespace heed::kernels {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

float row_max(const float* x, int64_t cols) {
  float m = kNegInf;
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < cols; ++j) m = x[j] > m ? x[j] : m;
  return m;
}

// y = exp(x - m), returns the sum.
float exp_shifted(const float* x, float m, float* y, int64_t cols) {
  float sum = 0.f;
#pragma omp simd reduction(+ : sum)
  for (int64_t j = 0; j < cols; ++j) {
    y[j] = exp_approx(x[j] - m);
    sum += y[j];
  }
  return sum;
}

bool parallel_rows(int64_t rows, int64_t cols) { return rows > 1 && rows * cols > (1 << 14); }
}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
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

void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
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

void log_softmax_forward(const float* x, float* y, int64_t rows, int64_t cols) {
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

void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
#pragma omp parallel for schedule(static) if (parallel_rows(rows, cols))
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * cols;
    const float* dyr = dy + r * cols;
    float* dxr = dx + r * cols;
    float sum = 0.f;
#pragma omp simd reduction(+ : sum)
    for (int64_t j = 0; j < cols; ++j) sum += dyr[j];
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) dxr[j] += dyr[j] - exp_approx(yr[j]) * sum;
  }
}

}  // namespace heed::kernels
