// bf16 inference kernels: bfloat16 (an f32's sign, 8-bit exponent and top 7 mantissa bits) for
// weights and GEMM inputs, f32 accumulation and output, as PyTorch's autocast to bfloat16 and
// CTranslate2's bfloat16 compute type do.
//
// On CPUs with AVX-512 BF16 (or AMX) the GEMM is oneDNN's bf16 x bf16 -> f32 matmul primitive
// (kernels/onednn_matmul.h: one per shape, weights packed once). Elsewhere it falls back to
// oneDNN's f32 sgemm on the bf16 values widened to f32: the product of two bf16 values is exact
// in f32, so both paths compute the same products and differ only in the order of the f32 sums.
#pragma once

#include <cstdint>

#include "heed/kernels/onednn_matmul.h"

namespace heed::kernels {

// Round to nearest, ties to even (as torch's .to(torch.bfloat16)); NaN stays NaN, values beyond
// bf16's largest finite value round to infinity as they do in f32.
uint16_t to_bf16(float x);
float from_bf16(uint16_t x);
void round_to_bf16(const float* x, int64_t count, uint16_t* out);  // per SIMD target
void widen_bf16(const uint16_t* x, int64_t count, float* out);

enum class Bf16Path { Auto, Native, Emulated };
// Whether this CPU runs bf16 dot products (oneDNN's ISA: AVX-512 BF16 or AMX), so that Auto means
// Native. Native on a CPU without them is refused (oneDNN 2.6 would run reference code).
bool bf16_native();

// A linear layer's forward pass with bf16 weights: y = bf16(x) W^T + bias in f32, W [n, k] as
// bf16 bits, x [m, k], y [m, n], bias [n] or null. The Emulated path needs w_widened (W as f32,
// from widen_bf16); the Native one may pass null there.
void bf16_linear(const float* x, int64_t m, int64_t k, const uint16_t* w, const float* w_widened, int64_t n,
                 const float* bias, float* y, PackedWeightCache* cache = nullptr, Bf16Path path = Bf16Path::Auto);

}  // namespace heed::kernels
