// The per-element loops around the int8 GEMM (kernels/int8.h), compiled once per SIMD target
// and dispatched at run time: at a small layer's shapes they, not the GEMM, take most of the time.
#pragma once

#include <cstdint>

namespace heed::kernels {

// Rows of x [rows, cols] quantised symmetrically to `levels` and stored as q + offset in bytes
// (offset 0: the int8 values themselves; offset > 0: the shifted u8 form the GEMM takes), with
// scale[r] = max |x[r]| / levels, or, with a `fixed_range` > 0 (a calibrated static range),
// scale[r] = fixed_range / levels for every row and values beyond the range clamped to
// +-levels. Returns the first row that holds a non-finite value (its q and scale are then
// unspecified), or -1.
int64_t quantize_rows_offset(const float* x, int64_t rows, int64_t cols, int levels, int offset,
                             uint8_t* q, float* scale, float fixed_range = 0.f);

// The largest |x[i]| of n values (NaN ignored, infinity kept); 0 for n = 0.
float max_abs(const float* x, int64_t n);

// y[i, j] = (acc[i, j] - offset * w_sums[j]) * x_scale[i] * w_scale[j] (+ bias[j]; bias may be
// null): the int32 GEMM result of shifted activations back to f32.
void int8_dequantize_output(const int32_t* acc, int64_t m, int64_t n, int offset, const int32_t* w_sums,
                            const float* x_scale, const float* w_scale, const float* bias, float* y);

}  // namespace heed::kernels
