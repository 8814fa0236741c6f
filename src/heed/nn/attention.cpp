#include "heed/nn/attention.h"

#include <cmath>

#include "heed/ops/ops.h"

namespace heed::nn {

namespace {
int64_t checked_head_dim(int64_t e, int64_t h, int64_t head_dim) {
  HEED_CHECK(h > 0 && e > 0, "MultiHeadAttention: heads (", h, ") and the embedding width (", e, ") must be > 0");
  if (head_dim > 0) return head_dim;
  HEED_CHECK(e % h == 0, "MultiHeadAttention: heads (", h, ") must divide the embedding width (", e, ")");
  return e / h;
}
}  // namespace

MultiHeadAttention::MultiHeadAttention(int64_t e, int64_t h, const MultiHeadAttentionOptions& o, Rng& rng,
                                       int64_t hd)
    : embed_dim(e),
      heads(h),
      head_dim(checked_head_dim(e, h, hd)),
      inner_dim(h * head_dim),
      options(o),
      out_proj(inner_dim, e, o.bias, rng) {
  const bool timm = o.naming == MultiHeadAttentionOptions::Naming::Timm;
  const int64_t inner = inner_dim;
  // Xavier-uniform for the packed projection, as nn.MultiheadAttention initialises it.
  const float bound = std::sqrt(6.0f / float(e + 3 * inner));
  register_parameter(timm ? "qkv.weight" : "in_proj_weight", &in_proj_weight,
                     Tensor::uniform({3 * inner, e}, rng, -bound, bound));
  if (o.bias) register_parameter(timm ? "qkv.bias" : "in_proj_bias", &in_proj_bias, Tensor::zeros({3 * inner}));
  register_reduced(&in_proj_weight, &in_proj_int8, &in_proj_bf16);
  register_module(timm ? "proj" : "out_proj", &out_proj);
}

std::shared_ptr<AttentionCapture> AttentionRecorder::next() {
  layers.push_back(std::make_shared<AttentionCapture>());
  layers.back()->want_gradient = gradients;
  return layers.back();
}

AttentionOptions MultiHeadAttention::attention_options(const AttentionMasks& m,
                                                       std::shared_ptr<AttentionCapture> capture) {
  AttentionOptions o;
  o.capture = std::move(capture);
  o.key_lengths = m.key_lengths;
  o.causal = m.causal;
  o.window = m.window;
  o.mask = m.mask;
  o.dropout = options.attention_dropout;
  o.training = training();
  if (o.training && o.dropout > 0.f) o.seed = next_seed();
  return o;
}

Var MultiHeadAttention::project_in(const Var& x, int64_t begin, int64_t end) {
  const bool whole = begin == 0 && end == 3 * inner_dim;
  Var b = !options.bias ? Var() : whole ? in_proj_bias : slice(in_proj_bias, 0, begin, end);
  if (in_proj_int8 && !grad_enabled()) return linear_int8(x, *in_proj_int8, b, begin, end);
  if (in_proj_bf16 && !grad_enabled()) return linear_bf16(x, *in_proj_bf16, b, begin, end);
  return linear(x, whole ? in_proj_weight : slice(in_proj_weight, 0, begin, end), b);
}

Var MultiHeadAttention::project_out(const Var& merged) {
  Var y = out_proj.forward(merged);
  if (training() && options.projection_dropout > 0.f)
    y = dropout(y, options.projection_dropout, true, next_seed());
  return y;
}

Var MultiHeadAttention::forward(const Var& x, const AttentionMasks& masks,
                                std::shared_ptr<AttentionCapture> capture) {
  HEED_CHECK(x.value().dim() == 3 && x.size(2) == embed_dim, "MultiHeadAttention: input ",
             x.value().str(), " must be [B, T, ", embed_dim, "]");
  Var qkv = project_in(x, 0, 3 * inner_dim);  // [B, T, 3I]
  // Heads read in place from the packed projection.
  return project_out(attention_fused_packed(qkv, 0, qkv, inner_dim, 2 * inner_dim, heads,
                                            attention_options(masks, std::move(capture))));
}

Var MultiHeadAttention::forward_cached(const Var& x, Tensor& cache, int64_t past) {
  HEED_CHECK(!grad_enabled(), "MultiHeadAttention::forward_cached is for inference: wrap it in a NoGradGuard");
  HEED_CHECK(x.value().dim() == 3 && x.size(2) == embed_dim, "MultiHeadAttention: input ",
             x.value().str(), " must be [B, T, ", embed_dim, "]");
  const Var qkv = project_in(x, 0, 3 * inner_dim);  // [B, Tn, 3I]
  return project_out(Var(attention_cached(qkv.value(), cache, past, heads)));
}

Tensor MultiHeadAttention::project_memory(const Var& memory) {
  const int64_t e = inner_dim;
  return project_in(memory, e, 3 * e).value().contiguous();  // [B, S, 2E]
}

Var MultiHeadAttention::forward_cross_cached(const Var& x, const Tensor& memory_kv, const Tensor& memory_lengths) {
  HEED_CHECK(!grad_enabled(), "MultiHeadAttention::forward_cross_cached is for inference: wrap it in a NoGradGuard");
  const int64_t e = inner_dim;
  Var q = project_in(x, 0, e);
  AttentionMasks masks;
  masks.key_lengths = memory_lengths;
  return project_out(attention_fused_packed(q, 0, Var(memory_kv), 0, e, heads, attention_options(masks, nullptr)));
}

Var MultiHeadAttention::forward_cross(const Var& queries, const Var& memory,
                                      const AttentionMasks& masks,
                                      std::shared_ptr<AttentionCapture> capture) {
  HEED_CHECK(queries.value().dim() == 3 && memory.value().dim() == 3 &&
                 queries.size(2) == embed_dim && memory.size(2) == embed_dim &&
                 queries.size(0) == memory.size(0),
             "MultiHeadAttention: queries ", queries.value().str(), " and memory ",
             memory.value().str(), " must be [B, Tq, ", embed_dim, "] and [B, Tk, ", embed_dim, "]");
  const int64_t e = inner_dim;
  Var q = project_in(queries, 0, e), kv = project_in(memory, e, 3 * e);  // [B, Tq, E], [B, Tk, 2E]
  return project_out(attention_fused_packed(q, 0, kv, 0, e, heads,
                                            attention_options(masks, std::move(capture))));
}

}  // namespace heed::nn
