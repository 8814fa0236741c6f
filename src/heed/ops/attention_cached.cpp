// Decoding-time self-attention over a preallocated KV cache (ops/attention.h).
#include <cstring>

#include "heed/kernels/attention.h"
#include "heed/ops/attention.h"

namespace heed {

Tensor attention_cached(const Tensor& qkv_in, Tensor& cache, int64_t past, int64_t heads) {
  const char* op = "attention_cached";
  HEED_CHECK(qkv_in.defined() && qkv_in.dtype() == DType::F32 && qkv_in.dim() == 3 && qkv_in.size(2) % 3 == 0, op,
             ": qkv must be f32 [B, Tn, 3E], got ", qkv_in.defined() ? qkv_in.str() : "nothing");
  const Tensor qkv = qkv_in.contiguous();
  const int64_t b = qkv.size(0), tn = qkv.size(1), e = qkv.size(2) / 3;
  HEED_CHECK(cache.defined() && cache.dtype() == DType::F32 && cache.dim() == 3 && cache.is_contiguous() &&
                 cache.size(0) == b && cache.size(2) == 2 * e,
             op, ": cache must be contiguous f32 [", b, ", capacity, ", 2 * e, "], got ",
             cache.defined() ? cache.str() : "nothing");
  HEED_CHECK(heads > 0 && e % heads == 0, op, ": ", heads, " heads do not divide the width ", e);
  const int64_t capacity = cache.size(1), length = past + tn;
  HEED_CHECK(past >= 0 && tn > 0 && length <= capacity, op, ": ", past, " cached and ", tn,
             " new positions do not fit a cache of ", capacity);
  const int64_t wk = 2 * e;
  for (int64_t r = 0; r < b; ++r)  // the new keys and values, side by side as the cache keeps them
    for (int64_t t = 0; t < tn; ++t)
      std::memcpy(cache.f32() + (r * capacity + past + t) * wk, qkv.f32() + (r * tn + t) * 3 * e + e,
                  size_t(wk) * sizeof(float));
  const int64_t dh = e / heads;
  const kernels::AttentionDims d{b, heads, tn, length, dh};
  kernels::AttentionLayouts layouts;
  layouts.q = {tn * 3 * e, dh, 3 * e};
  layouts.k = layouts.v = {capacity * wk, dh, wk};  // rows past `length` are never read
  layouts.o = {tn * e, dh, e};
  kernels::AttentionMask mask;
  mask.causal = true;  // bottom-right aligned: new query i sits at position past + i
  Tensor out = Tensor::empty({b, tn, e});
  Tensor lse = Tensor::empty({b, heads, tn});
  kernels::attention_fused_forward(d, qkv.f32(), cache.f32(), cache.f32() + e, mask, {}, out.f32(), lse.f32(),
                                   layouts);
  return out;
}

}  // namespace heed
