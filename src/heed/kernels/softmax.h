// Softmax and log-softmax over the last dimension of a [rows, cols] buffer.
// The row max is subtracted first; a row that is entirely -inf (fully masked) gives zeros from
// softmax and -inf from log_softmax, never NaN. Backward kernels ADD into dx.
#pragma once

#include <cstdint>

namespace heed::kernels {

void softmax_forward(const float* x, float* y, int64_t rows, int64_t cols);
// dx += y * (dy - sum(dy * y))
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);
void log_softmax_forward(const float* x, float* y, int64_t rows, int64_t cols);
// dx += dy - exp(y) * sum(dy)
void log_softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);

}  // namespace heed::kernels
