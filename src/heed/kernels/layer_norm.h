// LayerNorm over the last dimension of [rows, cols]: y = (x - mean) * rstd * w + b.
// Forward saves mean and rstd per row for the backward. Backward kernels ADD into dx, dw, db
// (any of which may be null).
#pragma once

#include <cstdint>

namespace heed::kernels {

void layer_norm_forward(const float* x, const float* w, const float* b, float* y, float* mean,
                        float* rstd, int64_t rows, int64_t cols, float eps);

// accumulate_dx = false overwrites dx instead of adding (a buffer nothing has written yet).
void layer_norm_backward(const float* x, const float* w, const float* mean, const float* rstd,
                         const float* dy, float* dx, float* dw, float* db, int64_t rows,
                         int64_t cols, bool accumulate_dx = true);

}  // namespace heed::kernels
