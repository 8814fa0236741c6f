// The per-element loops of bf16 inference (kernels/bf16.h), compiled once per SIMD target and
// dispatched at run time.
#pragma once

#include <cstdint>

namespace heed::kernels {

// out[i] = x[i] rounded to bf16 (nearest, ties to even; NaN stays NaN), as bf16 bits.
void round_to_bf16_bits(const float* x, int64_t count, uint16_t* out);
// out[i] = x[i] rounded to bf16 and widened back to f32 (the emulated GEMM's input).
void round_through_bf16(const float* x, int64_t count, float* out);

}  // namespace heed::kernels
