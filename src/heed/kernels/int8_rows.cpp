// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h): plain loops
// that GCC vectorises for each target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/int8_rows.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>

#include "heed/kernels/int8_rows.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

// Rows are spread over threads once a call has this many elements (below it, threads cost more).
constexpr int64_t kParallelElements = int64_t{1} << 15;

// A static range: one pass that quantises and checks finiteness together (no max to find).
bool QuantizeRowStatic(const float* x, int64_t cols, int levels, int offset, uint8_t* q, float* scale,
                       float range) {
  *scale = range / float(levels);
  const float inv = float(levels) / range, lo = -float(levels), hi = float(levels), magic = 12582912.f;
  int bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t c = 0; c < cols; ++c) {
    bad |= !(std::fabs(x[c]) <= std::numeric_limits<float>::max());
    // Clamping before the rounding keeps huge values out of the int conversion, and with the
    // bound first (std::max(lo, NaN) is lo) NaN too; the row is refused anyway.
    const float t = std::min(hi, std::max(lo, x[c] * inv));
    q[c] = uint8_t(int((t + magic) - magic) + offset);
  }
  return !bad;
}

bool QuantizeRow(const float* x, int64_t cols, int levels, int offset, uint8_t* q, float* scale, float fixed_range) {
  if (fixed_range > 0.f) return QuantizeRowStatic(x, cols, levels, offset, q, scale, fixed_range);
  // `omp simd` lets the compiler vectorise the reductions (plain C++ loops over floats keep
  // their order without -ffast-math); a non-finite value fails `a <= FLT_MAX`.
  float amax = 0.f;
  int bad = 0;
#pragma omp simd reduction(max : amax) reduction(| : bad)
  for (int64_t c = 0; c < cols; ++c) {
    const float a = std::fabs(x[c]);
    bad |= !(a <= std::numeric_limits<float>::max());
    amax = std::max(amax, a);
  }
  if (bad) return false;
  *scale = amax / float(levels);
  if (amax == 0.f) {
    std::fill(q, q + cols, uint8_t(offset));
    return true;
  }
  // Multiplying by levels / amax (a division per element was a third of a small layer's time)
  // keeps |x - q * scale| <= scale / 2 up to a few ulps of x / scale; the clamp catches
  // products that round past `levels`. Adding and subtracting 1.5 * 2^23 rounds to the nearest
  // integer (ties to even, as nearbyint) in a way that vectorises: |v| <= 128 is far inside the
  // range where that is exact. The byte is the two's-complement int8 when offset is 0.
  const float inv = float(levels) / amax, lo = -float(levels), hi = float(levels), magic = 12582912.f;
#pragma omp simd
  for (int64_t c = 0; c < cols; ++c) {
    const float v = std::min(std::max((x[c] * inv + magic) - magic, lo), hi);
    q[c] = uint8_t(int(v) + offset);
  }
  return true;
}

int64_t QuantizeRowsOffset(const float* x, int64_t rows, int64_t cols, int levels, int offset, uint8_t* q,
                           float* scale, float fixed_range) {
  std::atomic<int64_t> bad_row{-1};
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelElements)
  for (int64_t r = 0; r < rows; ++r)
    if (!QuantizeRow(x + r * cols, cols, levels, offset, q + r * cols, scale + r, fixed_range)) {
      int64_t seen = bad_row.load();  // keep the first bad row whichever thread finds it
      while ((seen < 0 || r < seen) && !bad_row.compare_exchange_weak(seen, r)) {
      }
    }
  return bad_row.load();
}

float MaxAbs(const float* x, int64_t n) {
  float amax = 0.f;
#pragma omp simd reduction(max : amax)
  for (int64_t i = 0; i < n; ++i) amax = std::max(amax, std::fabs(x[i]));
  return amax;
}

void Int8DequantizeOutput(const int32_t* acc, int64_t m, int64_t n, int offset, const int32_t* w_sums,
                          const float* x_scale, const float* w_scale, const float* bias, float* y) {
#pragma omp parallel for schedule(static) if (m * n >= kParallelElements)
  for (int64_t i = 0; i < m; ++i) {
    const float s = x_scale[i];
    const int32_t* a = acc + i * n;
    float* out = y + i * n;
    if (bias) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) out[j] = float(a[j] - offset * w_sums[j]) * (s * w_scale[j]) + bias[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) out[j] = float(a[j] - offset * w_sums[j]) * (s * w_scale[j]);
    }
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(QuantizeRowsOffset);
HWY_EXPORT(Int8DequantizeOutput);
HWY_EXPORT(MaxAbs);

int64_t quantize_rows_offset(const float* x, int64_t rows, int64_t cols, int levels, int offset,
                             uint8_t* q, float* scale, float fixed_range) {
  return HWY_DYNAMIC_DISPATCH(QuantizeRowsOffset)(x, rows, cols, levels, offset, q, scale, fixed_range);
}
float max_abs(const float* x, int64_t n) { return HWY_DYNAMIC_DISPATCH(MaxAbs)(x, n); }
void int8_dequantize_output(const int32_t* acc, int64_t m, int64_t n, int offset, const int32_t* w_sums,
                            const float* x_scale, const float* w_scale, const float* bias, float* y) {
  HWY_DYNAMIC_DISPATCH(Int8DequantizeOutput)(acc, m, n, offset, w_sums, x_scale, w_scale, bias, y);
}
}  // namespace heed::kernels
#endif
