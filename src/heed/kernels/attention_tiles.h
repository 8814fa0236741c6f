// Register-blocked building blocks of the fused attention forward, in a "queries in lanes"
// layout: a tile of queries is held transposed, so every vector holds one value for `lanes`
// consecutive queries. Then
//   - the logits tile S^T[j][i] = sum_e K[j][e] Qt[e][i] is a GEMM whose B operand (Qt) is
//     packed once per query tile and whose A operand (K) is read in place, one broadcast per
//     element;
//   - the online softmax (running max and sum per query) needs no horizontal reductions: a
//     query's statistics live in its lane;
//   - the output accumulator is kept transposed, acc^T[e][i] += sum_j V[j][e] P^T[j][i], with V
//     read in place.
// Why not call the BLAS per tile: at 128 x 128 x 64 a library sgemm runs at ~55-65% of a core's
// peak (call overhead, packing), and at ViT sizes (17 x 17 x 16) at ~5%. These loops keep the
// accumulators in registers and run at ~80-90% of peak on the large tiles.
//
// Plain functions over buffers; `qp` (the padded query count, a multiple of lanes) is the row
// stride of every transposed buffer. Written with Highway and compiled for several SIMD targets
// (heed/kernels/simd.h); `tile_kernels()` returns the set for the best target this CPU runs.
// A caller takes the set once per attention call, so the lane count and every function it uses
// come from one target.
#pragma once

#include <cstdint>

namespace heed::kernels::tiles {

struct TileKernels {
  const char* target;  // Highway's name for the target ("AVX3_DL", "AVX2", ...)
  int64_t lanes;       // floats per vector register (16 with AVX-512, 8 with AVX2, 4 below)

  // qt[e * qp + i] = scale * q[i * ldq + e] for i < rows, 0 for rows <= i < qp (queries, or
  // the output gradient in the backward).
  void (*pack_transposed)(const float* q, int64_t ldq, int64_t rows, int64_t head_dim,
                          float scale, int64_t qp, float* qt);

  // key_end (optional, one entry per vector of lanes): no lane of vector v sees keys
  // j >= key_end[v] (causal diagonal, padding). logits leaves those rows of the vector's block
  // unwritten (the caller masks them) and accumulate_values skips them.

  // st[j * qp + i] = sum_e k[j * ldk + e] * qt[e * qp + i], for j < cols and i < qp.
  void (*logits)(const float* k, int64_t ldk, int64_t cols, const float* qt, int64_t qp,
                 int64_t head_dim, const int64_t* key_end, float* st);

  // One online-softmax step over a logits tile st [cols][qp] (masked entries -inf): per lane
  // i, m' = max(row_max[i], max_j st[j][i]); st[j][i] becomes exp(st[j][i] - m'); row_sum[i]
  // becomes row_sum[i] * rescale[i] + sum_j st[j][i] with rescale[i] = exp(row_max[i] - m');
  // row_max[i] becomes m'. A lane that has seen only -inf keeps max -inf, sum 0 and gets
  // zeros (no NaN).
  void (*online_softmax)(float* st, int64_t cols, int64_t qp, float* row_max, float* row_sum,
                         float* rescale);

  // acct[e * qp + i] = acct[e * qp + i] * rescale[i] + sum_j v[j * ldv + e] * pt[j * qp + i].
  void (*accumulate_values)(const float* v, int64_t ldv, int64_t cols, const float* pt,
                            int64_t qp, int64_t head_dim, const int64_t* key_end,
                            const float* rescale, float* acct);

  // Backward pieces.

  // st[j * qp + i] = exp(st[j * qp + i] - lse[i]): the forward's probabilities from its
  // logits; 0 in lanes whose lse is -inf (fully masked rows).
  void (*probabilities)(float* st, int64_t cols, int64_t qp, const float* lse);

  // dpt[j * qp + i] = scale * pt[j * qp + i] * (dpt[j * qp + i] - delta[i]): the softmax
  // backward (delta = rowsum(dO * O)), times the logit scale so that dQ and dK need no further
  // scaling.
  void (*softmax_backward)(const float* pt, float* dpt, int64_t cols, int64_t qp,
                           const float* delta, float scale);

  // c[m * ldc + n] += sum_k a[m * a_m + k * a_k] * b[k * ldb + n] for m < rows, n < width,
  // k < depth: A is read through strides (so a transposed lane-layout tile serves as A or
  // A^T), B and C by rows. Used for dV += P^T dO, dK += dS^T Q and dQ += dS K.
  void (*accumulate_rows)(int64_t rows, int64_t width, int64_t depth, const float* a,
                          int64_t a_m, int64_t a_k, const float* b, int64_t ldb, float* c,
                          int64_t ldc);
};

// The kernels of the best compiled target this CPU supports (after any HEED_SIMD limit).
const TileKernels& tile_kernels();

}  // namespace heed::kernels::tiles
