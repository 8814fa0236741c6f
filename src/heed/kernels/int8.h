// int8 inference kernels: symmetric per-row quantisation and the integer GEMM behind quantised
// linear layers (weights per output channel, activations per row at run time, as PyTorch's
// quantize_dynamic and CTranslate2's int8 compute type do).
//
// The GEMM runs on oneDNN's u8 x s8 -> s32 matmul primitive (brgemm kernels on AVX-512 VNNI and
// AMX), one primitive per shape, made on first use and kept: oneDNN's run-time dimensions and
// its BLAS-like gemm_u8s8s32 both take slow paths (the latter was 8x slower than the primitive on
// a Sapphire Rapids at the default ViT's shapes), and the weights are reordered once into the
// layout the primitive wants (PackedWeightCache, kernels/onednn_matmul.h). Activations are quantised to signed values
// and shifted by a constant offset into u8; the offset's contribution (offset times each weight
// row's sum, precomputed once per weight) is subtracted from the exact int32 result, so no
// zero point is passed at run time. Without AVX-512 VNNI, oneDNN sums u8 x s8 products in pairs
// into int16 (vpmaddubsw), which saturates for 8-bit activations: there activations get 7 bits
// (|q| <= 63), so results stay exact on every CPU and only the activation step is coarser.
#pragma once

#include <cstdint>
#include <memory>

#include "heed/kernels/onednn_matmul.h"

namespace heed::kernels {

// The largest |q| activations may take on this CPU: 127 with VNNI, 63 without (see above).
int int8_activation_levels();

// Symmetric per-row quantisation: scale[r] = max_c |x[r, c]| / levels and
// q[r, c] = round(x[r, c] / scale[r]), so |x - q * scale| <= scale / 2. An all-zero row has
// scale 0 and q 0. levels is in [1, 127]; non-finite values are refused.
void quantize_rows(const float* x, int64_t rows, int64_t cols, int levels, int8_t* q, float* scale);
// x[r, c] = q[r, c] * scale[r].
void dequantize_rows(const int8_t* q, const float* scale, int64_t rows, int64_t cols, float* x);
// sums[r] = sum_c q[r, c]: what int8_gemm_nt needs per weight row.
void int8_row_sums(const int8_t* q, int64_t rows, int64_t cols, int32_t* sums);

// Exact c[i, j] = sum_p a[i, p] * b[j, p] (a [m, k], b [n, k], row-major, c [m, n] int32) with
// b_sums from int8_row_sums(b). Every |a| must be <= int8_activation_levels() (checked: an
// out-of-range value is an error, never a saturated result); b may use the full [-127, 127].
void int8_gemm_nt(const int8_t* a, const int8_t* b, const int32_t* b_sums, int64_t m, int64_t n,
                  int64_t k, int32_t* c);

// A linear layer's forward pass with int8 weights: y[i, j] ~ sum_p x[i, p] W[j, p] + bias[j],
// where W = w_q * w_scale per row (per output channel) and each row of x is quantised to
// int8_activation_levels() on the fly: over its own max |x| (dynamic), or over a calibrated
// `input_range` > 0 shared by every row (static; values beyond it clamp). bias may be null. y is
// [m, n]. With a cache, w_q's packed form is made once and kept there; without one it is made
// on every call.
void int8_linear(const float* x, int64_t m, int64_t k, const int8_t* w_q, const float* w_scale,
                 const int32_t* w_sums, int64_t n, const float* bias, float* y,
                 PackedWeightCache* cache = nullptr, float input_range = 0.f);

}  // namespace heed::kernels
