// Element-wise kernels over contiguous buffers of n floats. Backward kernels ADD into dx.
// Dispatched to the best SIMD target of the CPU (heed/kernels/simd.h).
#pragma once

#include <cstdint>

namespace heed::kernels {

void add_inplace(float* dst, const float* src, int64_t n);          // dst += src
void axpy(float alpha, const float* x, float* y, int64_t n);         // y += alpha * x
void scale(const float* x, float s, float* y, int64_t n);            // y = s * x
void add_scaled(const float* a, float s, const float* b, float* y, int64_t n);  // y = a + s * b
void mul(const float* a, const float* b, float* y, int64_t n);       // y = a * b
void add_rows(const float* row, int64_t rows, int64_t cols, float* x);  // x[r, :] += row
// y[r, :] = a[r, :] + s * row, for [rows, cols] a and y (a bias or position embedding added).
void add_scaled_rows(const float* a, float s, const float* row, int64_t rows, int64_t cols,
                     float* y);
// dst[r * ld + offset + j] += src[r * width + j]: a [rows, width] block added into columns
// [offset, offset + width) of a [rows, ld] buffer (the backward of a slice).
void add_into_columns(const float* src, int64_t rows, int64_t width, float* dst, int64_t ld,
                      int64_t offset);

void gelu_forward(const float* x, float* y, int64_t n);              // x * Phi(x), erf form
// accumulate = false overwrites dx instead (a gradient buffer nothing has written yet).
void gelu_backward(const float* x, const float* dy, float* dx, int64_t n, bool accumulate = true);
void relu_forward(const float* x, float* y, int64_t n);
void relu_backward(const float* x, const float* dy, float* dx, int64_t n);
void tanh_forward(const float* x, float* y, int64_t n);
void tanh_backward(const float* y, const float* dy, float* dx, int64_t n);  // uses the output

}  // namespace heed::kernels
