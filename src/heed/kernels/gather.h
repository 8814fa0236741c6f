// Index and layout kernels: embedding lookup, dropout, image patches. Backward kernels ADD.
#pragma once

#include <cstdint>

namespace heed::kernels {

// out[i, :] = weight[ids[i], :]; the caller validates ids.
void embedding_forward(const int64_t* ids, int64_t n, const float* weight, int64_t dim, float* out);
// dweight[ids[i], :] += dout[i, :], repeated ids accumulate. Parallel over columns, so no two
// threads touch the same element and the order of additions is fixed.
void embedding_backward(const int64_t* ids, int64_t n, const float* dout, int64_t dim,
                        float* dweight);

// Inverted dropout with a counter-based mask: element i is kept when uniform(seed, i) >= p and
// scaled by 1 / (1 - p). The same (seed, p) regenerates the same mask in backward.
void dropout_forward(const float* x, float* y, int64_t n, float p, uint64_t seed);
void dropout_backward(const float* dy, float* dx, int64_t n, float p, uint64_t seed);

// [B, C, H, W] -> [B, (H/p)(W/p), C p p]: patches in row-major grid order, each patch vector
// ordered (channel, row, column), matching a stride-p convolution's weight [D, C, p, p].
void patchify_forward(const float* x, float* y, int64_t batch, int64_t channels, int64_t height,
                      int64_t width, int64_t patch);
void patchify_backward(const float* dy, float* dx, int64_t batch, int64_t channels, int64_t height,
                       int64_t width, int64_t patch);

}  // namespace heed::kernels
