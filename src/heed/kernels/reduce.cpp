#include "heed/kernels/reduce.h"

#include <algorithm>

namespace heed::kernels {

void sum_rows(const float* x, int64_t rows, int64_t cols, float alpha, float* out) {
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

}  // namespace heed::kernels
