// Scaled dot-product attention, softmax(Q K^T / sqrt(d_head) + mask) V, in two forms:
//  - attention_reference: composed from differentiable ops (matmul, softmax, ...); quadratic
//    memory; the oracle for tests and the path that returns attention probabilities (maps);
//  - attention_fused: the FlashAttention-2 style kernel (kernels/attention.h); linear memory.
// Both take Q [B, H, Tq, D], K and V [B, H, Tk, D] and return [B, H, Tq, D].
#pragma once

#include <cstdint>
#include <memory>

#include "heed/autograd/variable.h"

namespace heed {

// What a fused attention call keeps for interpretability when asked, without changing its
// result (the output is computed exactly as without it):
//  - probabilities [B, H, Tq, Tk]: recomputed after the forward from its saved logsumexp;
//  - gradient [B, H, Tq, Tk]: dLoss/dP, written by the backward (dO V^T) when
//    `want_gradient`; meaningful in evaluation mode only (it ignores attention dropout).
// Shared, because the backward that fills `gradient` may run after the forward's caller is gone.
struct AttentionCapture {
  bool want_gradient = false;
  Tensor probabilities;
  Tensor gradient;
};

struct AttentionOptions {
  Tensor key_lengths;    // optional i64 [B]: keys at positions >= length are padding
  bool causal = false;   // bottom-right aligned: query i sits at position i + Tk - Tq
  int64_t window = 0;    // > 0: sliding window, keep |pos(i) - j| < window
  // Optional mask over [Tq, Tk], [B, 1, Tq, Tk] or [B, H, Tq, Tk]: f32 is added to the logits
  // (-inf masks); i64 is boolean, 1 = attend, 0 = masked.
  Tensor mask;
  float dropout = 0.f;   // attention dropout probability (used only when training)
  bool training = false;
  uint64_t seed = 0;     // dropout seed: the same seed gives the same mask in both forms
  // Fused forms only: fill this capture (the reference returns its probabilities directly).
  std::shared_ptr<AttentionCapture> capture;
};

Var attention_reference(const Var& q, const Var& k, const Var& v, const AttentionOptions& options,
                        Tensor* probabilities = nullptr);  // [B, H, Tq, Tk] if requested
Var attention_fused(const Var& q, const Var& k, const Var& v, const AttentionOptions& options);

// Fused attention on projections with the heads packed side by side in the last dimension, as
// a Linear writes them: q = q_source[:, :, q_offset : q_offset + E] viewed as [B, Tq, H, E/H],
// k and v likewise from kv_source at k_offset and v_offset (E = v_offset - k_offset). Returns
// [B, Tq, E] with the heads merged. No transpose is ever materialised, forward or backward.
// Self-attention passes the packed qkv [B, T, 3E] as both sources with offsets 0, E, 2E.
Var attention_fused_packed(const Var& q_source, int64_t q_offset, const Var& kv_source,
                           int64_t k_offset, int64_t v_offset, int64_t heads,
                           const AttentionOptions& options);

// Inference with a KV cache (decoding): `qkv` [B, Tn, 3E] is the packed self-attention
// projection of Tn new positions; `cache` [B, capacity, 2E] holds the keys (columns [0, E)) and
// values ([E, 2E)) of the `past` positions before them. Writes the new keys and values into rows
// [past, past + Tn) of the cache, in place, and returns [B, Tn, E] (heads merged): each new
// position attends causally over the past + Tn cached ones, through the fused kernel reading the
// cache where it lies (no copy of it). Records no gradient; throws when past + Tn exceeds the
// capacity.
Tensor attention_cached(const Tensor& qkv, Tensor& cache, int64_t past, int64_t heads);

namespace detail {
// The options' masks resolved to an additive f32 tensor [B or 1, H or 1, Tq, Tk] (-inf where
// masked, else 0 or the additive value), or undefined when nothing masks. Validates shapes.
Tensor additive_mask(const AttentionOptions& options, int64_t batch, int64_t heads, int64_t q_len,
                     int64_t kv_len, bool include_structural);
}  // namespace detail

}  // namespace heed
