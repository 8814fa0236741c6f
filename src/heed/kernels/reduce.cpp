// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/reduce.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <algorithm>

#include "heed/kernels/reduce.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

void SumRows(const float* x, int64_t rows, int64_t cols, float alpha, float* out) {
  // Column blocks of 64 floats (4 AVX-512 registers of partial sums) are the unit of work.
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (rows * cols > (1 << 16) && blocks > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t j0 = blk * kBlock, width = std::min(kBlock, cols - j0);
    float acc[kBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols + j0;
#pragma omp simd
      for (int64_t j = 0; j < width; ++j) acc[j] += row[j];
    }
    for (int64_t j = 0; j < width; ++j) out[j0 + j] += alpha * acc[j];
  }
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(SumRows);
void sum_rows(const float* x, int64_t rows, int64_t cols, float alpha, float* out) {
  HWY_DYNAMIC_DISPATCH(SumRows)(x, rows, cols, alpha, out);
}
}  // namespace heed::kernels
#endif
