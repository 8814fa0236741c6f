// Exact attention, FlashAttention-2 style, on the CPU:
//   O = dropout(softmax(Q K^T / sqrt(D) + mask)) V    per batch b and head h
// Q [B, H, Tq, D], K and V [B, H, Tk, D], O [B, H, Tq, D], all contiguous.
// The forward walks query tiles (outer) and key/value tiles (inner) keeping a running row max
// and row sum (online softmax), normalises once at the end and saves only the per-row
// logsumexp [B, H, Tq]: extra memory is linear in the sequence length. The backward recomputes
// the probabilities from the logsumexp.
#pragma once

#include <cstdint>

namespace heed::kernels {

struct AttentionDims {
  int64_t batch, heads, q_len, kv_len, head_dim;
};

// Which logits take part. All options combine (a logit is kept only if every one keeps it).
// Query i sits at absolute position i + (Tk - Tq): bottom-right alignment, so a single decoding
// query with a KV cache sees every cached key, and Tq == Tk is the usual square case.
struct AttentionMask {
  const int64_t* key_lengths = nullptr;  // [B]: keys j >= key_lengths[b] are padding
  bool causal = false;                   // keys after the query's position are masked
  int64_t window = 0;                    // > 0: keep |pos(i) - j| < window (left side only if causal)
  const float* additive = nullptr;       // added to the scaled logits; -inf masks
  int64_t additive_batch_stride = 0;     // element strides of the [Tq, Tk] block per b and h;
  int64_t additive_head_stride = 0;      // 0 broadcasts
};

// Attention dropout: probability p is dropped where uniform(seed, flat index into the
// [B, H, Tq, Tk] probability matrix) < p; survivors are scaled by 1 / (1 - p).
struct AttentionDropout {
  float p = 0.f;
  uint64_t seed = 0;
};

// Where each operand's elements live, as element strides of its [B, H, T, D] view (the last
// dimension is always contiguous). Contiguous [B, H, T, D] is the default; projections packed as
// [B, T, H * D] (heads side by side, as a Linear writes them) avoid any transpose copy:
// batch = T * width, head = D, row = width.
struct AttentionLayout {
  int64_t batch, head, row;
};
struct AttentionLayouts {
  AttentionLayout q, k, v, o;  // gradients share their operand's layout (dO shares o's)
  static AttentionLayouts contiguous(const AttentionDims& dims);
};

// Writes out [B, H, Tq, D] and lse [B, H, Tq] (lse = -inf and out = 0 for fully masked rows).
void attention_fused_forward(const AttentionDims& dims, const float* q, const float* k,
                             const float* v, const AttentionMask& mask,
                             const AttentionDropout& dropout, float* out, float* lse,
                             const AttentionLayouts& layouts);

// Adds the gradients into dq, dk, dv. Parallel over (batch, head, key tile), so two cores stay
// busy even for one sequence with one head; dq is accumulated per thread and summed in thread
// order, which keeps results identical for a given thread count.
void attention_fused_backward(const AttentionDims& dims, const float* q, const float* k,
                              const float* v, const float* out, const float* lse,
                              const float* dout, const AttentionMask& mask,
                              const AttentionDropout& dropout, float* dq, float* dk, float* dv,
                              const AttentionLayouts& layouts);

// What interpretability reads, computed after the fact without touching the forward's path:
// - the probabilities P [B, H, Tq, Tk] (contiguous), recomputed tile by tile from the forward's
//   logsumexp with the same logits and masks the backward uses (before any dropout; fully
//   masked rows are zeros), so no quadratic buffer exists during the forward itself;
// - dL/dP = dO V^T [B, H, Tq, Tk], the gradient of a loss with respect to those probabilities
//   given the output gradient dO (evaluation mode: no dropout).
void attention_fused_probabilities(const AttentionDims& dims, const float* q, const float* k,
                                   const AttentionMask& mask, const float* lse,
                                   const AttentionLayouts& layouts, float* p);
void attention_probability_gradient(const AttentionDims& dims, const float* v, const float* dout,
                                    const AttentionLayouts& layouts, float* dp);

}  // namespace heed::kernels
