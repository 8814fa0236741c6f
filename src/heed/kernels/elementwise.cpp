#include "heed/kernels/elementwise.h"

#include "heed/kernels/fast_math.h"

namespace heed::kernels {

namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;
}  // namespace

void add_inplace(float* dst, const float* src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

void axpy(float alpha, const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void scale(const float* x, float s, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = s * x[i];
}

void add_rows(const float* row, int64_t rows, int64_t cols, float* x) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) xr[j] += row[j];
  }
}

void gelu_forward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = 0.5f * x[i] * (1.0f + erf_approx(x[i] * 0.70710678f));
}

// d/dx [x Phi(x)] = Phi(x) + x phi(x)
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n, bool accumulate) {
  // The flag selects a whole loop, so neither loop branches per element.
  auto grad = [](float xi, float dyi) {
    const float cdf = 0.5f * (1.0f + erf_approx(xi * 0.70710678f));
    const float pdf = 0.39894228f * exp_approx(-0.5f * xi * xi);
    return dyi * (cdf + xi * pdf);
  };
  if (accumulate) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dx[i] += grad(x[i], dy[i]);
  } else {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
    for (int64_t i = 0; i < n; ++i) dx[i] = grad(x[i], dy[i]);
  }
}

void relu_forward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

void relu_backward(const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dx[i] += x[i] > 0.f ? dy[i] : 0.f;
}

void tanh_forward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = tanh_approx(x[i]);
}

void tanh_backward(const float* y, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

}  // namespace heed::kernels
