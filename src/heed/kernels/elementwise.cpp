// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/elementwise.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "heed/kernels/elementwise.h"
#include "heed/kernels/vec_math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {
namespace {
// Below this many elements a parallel region costs more than it saves.
constexpr int64_t kParallelGrain = 1 << 15;
// Element-wise loops over larger buffers are cut into chunks of this many floats (a multiple of
// every vector width), one chunk per iteration of a static parallel loop.
constexpr int64_t kChunk = 1 << 13;

// Runs body(begin, end) over [0, n) in chunks, in parallel above kParallelGrain.
template <class Body>
void chunked(int64_t n, Body&& body) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (n > kParallelGrain)
  for (int64_t c = 0; c < chunks; ++c) body(c * kChunk, std::min(n, (c + 1) * kChunk));
}

// 1/sqrt(2) and 1/sqrt(2 pi).
constexpr float kSqrtHalf = 0.70710678f, kInvSqrt2Pi = 0.39894228f;

// GELU's derivative Phi(x) + x phi(x).
template <class D, class V>
HWY_INLINE V GeluGrad(D d, V x) {
  const V cdf = hn::Mul(hn::Set(d, 0.5f), hn::Add(hn::Set(d, 1.0f), Erf(d, hn::Mul(x, hn::Set(d, kSqrtHalf)))));
  const V pdf = hn::Mul(hn::Set(d, kInvSqrt2Pi), Exp(d, hn::Mul(hn::Set(d, -0.5f), hn::Mul(x, x))));
  return hn::MulAdd(x, pdf, cdf);
}
}  // namespace

void AddInplace(float* dst, const float* src, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dst[i] += src[i];
}

void Axpy(float alpha, const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * x[i];
}

void Scale(const float* x, float s, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = s * x[i];
}

void AddScaled(const float* a, float s, const float* b, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + s * b[i];
}

void Mul(const float* a, const float* b, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] * b[i];
}

void AddRows(const float* row, int64_t rows, int64_t cols, float* x) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) xr[j] += row[j];
  }
}

void AddScaledRows(const float* a, float s, const float* row, int64_t rows, int64_t cols,
                   float* y) {
#pragma omp parallel for schedule(static) if (rows * cols > kParallelGrain)
  for (int64_t r = 0; r < rows; ++r) {
    const float* ar = a + r * cols;
    float* yr = y + r * cols;
#pragma omp simd
    for (int64_t j = 0; j < cols; ++j) yr[j] = ar[j] + s * row[j];
  }
}

void AddIntoColumns(const float* src, int64_t rows, int64_t width, float* dst, int64_t ld,
                    int64_t offset) {
#pragma omp parallel for schedule(static) if (rows * width > kParallelGrain && rows > 1)
  for (int64_t r = 0; r < rows; ++r) {
    const float* s = src + r * width;
    float* d = dst + r * ld + offset;
#pragma omp simd
    for (int64_t j = 0; j < width; ++j) d[j] += s[j];
  }
}

void GeluForward(const float* x, float* y, int64_t n) {
  chunked(n, [&](int64_t begin, int64_t end) {
    Map(x + begin, y + begin, end - begin, [](auto d, auto v) {
      const auto cdf = hn::Add(hn::Set(d, 1.0f), Erf(d, hn::Mul(v, hn::Set(d, kSqrtHalf))));
      return hn::Mul(hn::Mul(hn::Set(d, 0.5f), v), cdf);
    });
  });
}

void GeluBackward(const float* x, const float* dy, float* dx, int64_t n, bool accumulate) {
  chunked(n, [&](int64_t begin, int64_t end) {
    if (accumulate)
      Map2Acc(x + begin, dy + begin, dx + begin, end - begin,
              [](auto d, auto xv, auto g, auto acc) { return hn::MulAdd(g, GeluGrad(d, xv), acc); });
    else
      Map2Acc(x + begin, dy + begin, dx + begin, end - begin,
              [](auto d, auto xv, auto g, auto) { return hn::Mul(g, GeluGrad(d, xv)); });
  });
}

void ReluForward(const float* x, float* y, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
}

void ReluBackward(const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dx[i] += x[i] > 0.f ? dy[i] : 0.f;
}

void TanhForward(const float* x, float* y, int64_t n) {
  chunked(n, [&](int64_t begin, int64_t end) {
    Map(x + begin, y + begin, end - begin, [](auto d, auto v) { return Tanh(d, v); });
  });
}

void TanhBackward(const float* y, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for simd schedule(static) if (n > kParallelGrain)
  for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(AddInplace);
HWY_EXPORT(Axpy);
HWY_EXPORT(Scale);
HWY_EXPORT(AddScaled);
HWY_EXPORT(Mul);
HWY_EXPORT(AddRows);
HWY_EXPORT(AddScaledRows);
HWY_EXPORT(AddIntoColumns);
HWY_EXPORT(GeluForward);
HWY_EXPORT(GeluBackward);
HWY_EXPORT(ReluForward);
HWY_EXPORT(ReluBackward);
HWY_EXPORT(TanhForward);
HWY_EXPORT(TanhBackward);

void add_inplace(float* dst, const float* src, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AddInplace)(dst, src, n);
}
void axpy(float alpha, const float* x, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(Axpy)(alpha, x, y, n);
}
void scale(const float* x, float s, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(Scale)(x, s, y, n); }
void add_scaled(const float* a, float s, const float* b, float* y, int64_t n) {
  HWY_DYNAMIC_DISPATCH(AddScaled)(a, s, b, y, n);
}
void mul(const float* a, const float* b, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(Mul)(a, b, y, n); }
void add_rows(const float* row, int64_t rows, int64_t cols, float* x) {
  HWY_DYNAMIC_DISPATCH(AddRows)(row, rows, cols, x);
}
void add_scaled_rows(const float* a, float s, const float* row, int64_t rows, int64_t cols,
                     float* y) {
  HWY_DYNAMIC_DISPATCH(AddScaledRows)(a, s, row, rows, cols, y);
}
void add_into_columns(const float* src, int64_t rows, int64_t width, float* dst, int64_t ld,
                      int64_t offset) {
  HWY_DYNAMIC_DISPATCH(AddIntoColumns)(src, rows, width, dst, ld, offset);
}
void gelu_forward(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(GeluForward)(x, y, n); }
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n, bool accumulate) {
  HWY_DYNAMIC_DISPATCH(GeluBackward)(x, dy, dx, n, accumulate);
}
void relu_forward(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(ReluForward)(x, y, n); }
void relu_backward(const float* x, const float* dy, float* dx, int64_t n) {
  HWY_DYNAMIC_DISPATCH(ReluBackward)(x, dy, dx, n);
}
void tanh_forward(const float* x, float* y, int64_t n) { HWY_DYNAMIC_DISPATCH(TanhForward)(x, y, n); }
void tanh_backward(const float* y, const float* dy, float* dx, int64_t n) {
  HWY_DYNAMIC_DISPATCH(TanhBackward)(y, dy, dx, n);
}
}  // namespace heed::kernels
#endif
