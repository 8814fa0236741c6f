// Reductions over contiguous buffers.
#pragma once

#include <cstdint>

namespace heed::kernels {

// out[j] += alpha * sum_r x[r * cols + j]: the gradient of a bias or of any operand repeated over
// rows. Each column is summed in row order by one thread, so the result does not depend on the
// thread count. (As a GEMM with a ones vector, m = 1, oneDNN took ~85 us for 2176 x 64; this
// takes a few.)
void sum_rows(const float* x, int64_t rows, int64_t cols, float alpha, float* out);

}  // namespace heed::kernels
