// Cross-entropy of logits = x W^T without the [rows, classes] logits: rows are taken in chunks,
// each chunk's logits made by one GEMM into a scratch buffer, reduced at once, and in the
// backward made again (as llm.c and Liger's fused linear cross-entropy do). For an output layer
// over every item or word (SASRec's 9,067 items x 13,000 positions: 470 MB of logits, twice),
// memory falls to one chunk and the page faults of allocating it every step go away.
// Semantics are cross_entropy's (kernels/cross_entropy.h), label smoothing included, without
// class weights.
#pragma once

#include <cstdint>

namespace heed::kernels {

// Rows per chunk: about 8 MB of logits, at least 64 rows (for the GEMM), at most `rows`.
int64_t linear_cross_entropy_chunk(int64_t rows, int64_t classes);

// x [rows, dim], w [classes, dim], targets [rows] (ignore_index skips a row). Returns the mean
// loss over counted rows (0 when none) and writes lse[rows]. `scratch` holds chunk * classes.
float linear_cross_entropy_forward(const float* x, const float* w, const int64_t* targets, float* lse,
                                   int64_t rows, int64_t dim, int64_t classes, int64_t ignore_index,
                                   int64_t chunk, float* scratch, float smoothing = 0.f);

// With g = dLoss: dx = beta_x dx + g dlogits W, dw = beta_w dw + g dlogits^T x (either may be
// null). `scratch` holds 2 * chunk * classes.
void linear_cross_entropy_backward(const float* x, const float* w, const int64_t* targets, const float* lse,
                                   float g, float* dx, float beta_x, float* dw, float beta_w, int64_t rows,
                                   int64_t dim, int64_t classes, int64_t ignore_index, int64_t chunk,
                                   float* scratch, float smoothing = 0.f);

}  // namespace heed::kernels
