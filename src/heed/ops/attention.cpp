// Scaled dot-product attention: the composed reference and the fused kernel's op wrapper.
#include "heed/ops/attention.h"

#include <cmath>
#include <limits>

#include "heed/kernels/attention.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

namespace {
constexpr float kNegInf = -std::numeric_limits<float>::infinity();

kernels::AttentionDims check_qkv(const Tensor& q, const Tensor& k, const Tensor& v,
                                 const AttentionOptions& o, const char* op) {
  HEED_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op,
             ": q, k, v must be [B, H, T, D], got ", q.str(), ", ", k.str(), ", ", v.str());
  HEED_CHECK(k.shape() == v.shape() && q.size(0) == k.size(0) && q.size(1) == k.size(1) &&
                 q.size(3) == k.size(3),
             op, ": q ", q.str(), ", k ", k.str(), " and v ", v.str(),
             " disagree (need q [B, H, Tq, D], k and v [B, H, Tk, D])");
  HEED_CHECK(q.size(3) > 0, op, ": head dimension must be > 0, got ", q.str());
  const kernels::AttentionDims d{q.size(0), q.size(1), q.size(2), k.size(2), q.size(3)};
  if (o.key_lengths.defined()) {
    HEED_CHECK(o.key_lengths.dtype() == DType::I64 && o.key_lengths.shape() == Shape{d.batch}, op,
               ": key_lengths must be i64 [", d.batch, "], got ", o.key_lengths.str());
    const Tensor kl = o.key_lengths.contiguous();
    for (int64_t b = 0; b < d.batch; ++b)
      HEED_CHECK(kl.i64()[b] >= 0 && kl.i64()[b] <= d.kv_len, op, ": key_lengths[", b, "] = ",
                 kl.i64()[b], " is outside [0, ", d.kv_len, "]");
  }
  HEED_CHECK(o.window >= 0, op, ": window must be >= 0, got ", o.window);
  HEED_CHECK(o.dropout >= 0.f && o.dropout < 1.f, op, ": dropout must be in [0, 1), got ",
             o.dropout);
  return d;
}

float dropout_p(const AttentionOptions& o) { return o.training ? o.dropout : 0.f; }

Tensor additive_mask_for(const AttentionOptions& o, const kernels::AttentionDims& d);

// Structural masks go to the kernel as parameters (so it can skip whole tiles); only a
// user-supplied mask is materialised. `additive` and `lengths` own what the mask points to.
kernels::AttentionMask kernel_mask(const AttentionOptions& o, const kernels::AttentionDims& d,
                                   Tensor& additive, Tensor& lengths) {
  additive = additive_mask_for(o, d);
  lengths = o.key_lengths.defined() ? o.key_lengths.contiguous() : Tensor();
  kernels::AttentionMask mask;
  mask.key_lengths = lengths.defined() ? lengths.i64() : nullptr;
  mask.causal = o.causal;
  mask.window = o.window;
  if (additive.defined()) {
    mask.additive = additive.f32();
    const int64_t block = d.q_len * d.kv_len;
    mask.additive_head_stride = additive.size(1) == 1 ? 0 : block;
    mask.additive_batch_stride = additive.size(0) == 1 ? 0 : additive.size(1) * block;
  }
  return mask;
}

void capture_probabilities(AttentionCapture* capture, const kernels::AttentionDims& d,
                           const float* q, const float* k, const kernels::AttentionMask& mask,
                           const Tensor& lse, const kernels::AttentionLayouts& layouts) {
  if (!capture) return;
  capture->probabilities = Tensor::empty({d.batch, d.heads, d.q_len, d.kv_len});
  kernels::attention_fused_probabilities(d, q, k, mask, lse.f32(), layouts,
                                         capture->probabilities.f32());
}

void capture_gradient(AttentionCapture* capture, const kernels::AttentionDims& d, const float* v,
                      const Tensor& gy, const kernels::AttentionLayouts& layouts) {
  if (!capture || !capture->want_gradient) return;
  capture->gradient = Tensor::empty({d.batch, d.heads, d.q_len, d.kv_len});
  kernels::attention_probability_gradient(d, v, gy.f32(), layouts,
                                          capture->gradient.f32());
}
}  // namespace

namespace detail {

Tensor additive_mask(const AttentionOptions& o, int64_t batch, int64_t heads, int64_t q_len,
                     int64_t kv_len, bool include_structural) {
  const bool structural =
      include_structural && (o.key_lengths.defined() || o.causal || o.window > 0);
  if (!o.mask.defined() && !structural) return Tensor();
  Shape shape{structural && o.key_lengths.defined() ? batch : 1, 1, q_len, kv_len};
  Tensor user;
  if (o.mask.defined()) {
    const Shape& ms = o.mask.shape();
    const bool ok = ms == Shape{q_len, kv_len} || ms == Shape{batch, 1, q_len, kv_len} ||
                    ms == Shape{batch, heads, q_len, kv_len};
    HEED_CHECK(ok, "attention: mask ", o.mask.str(), " must be [", q_len, ", ", kv_len, "], [",
               batch, ", 1, ", q_len, ", ", kv_len, "] or [", batch, ", ", heads, ", ", q_len, ", ",
               kv_len, "]");
    user = o.mask.contiguous().reshape(ms.size() == 2 ? Shape{1, 1, q_len, kv_len} : ms);
    shape[0] = std::max(shape[0], user.size(0));
    shape[1] = user.size(1);
  }
  Tensor out = Tensor::zeros(shape);
  float* m = out.f32();
  const Tensor lengths = o.key_lengths.defined() ? o.key_lengths.contiguous() : Tensor();
  for (int64_t b = 0; b < shape[0]; ++b)
    for (int64_t h = 0; h < shape[1]; ++h)
      for (int64_t i = 0; i < q_len; ++i)
        for (int64_t j = 0; j < kv_len; ++j) {
          float& x = m[((b * shape[1] + h) * q_len + i) * kv_len + j];
          if (user.defined()) {
            const int64_t ub = user.size(0) == 1 ? 0 : b;
            const int64_t at = ((ub * user.size(1) + h) * q_len + i) * kv_len + j;
            x = user.dtype() == DType::I64 ? (user.i64()[at] != 0 ? 0.f : kNegInf) : user.f32()[at];
          }
          if (!structural) continue;
          const int64_t pos = i + kv_len - q_len;
          bool masked = lengths.defined() && j >= lengths.i64()[b];
          masked = masked || (o.causal && j > pos);
          masked = masked || (o.window > 0 && (j <= pos - o.window || (!o.causal && j >= pos + o.window)));
          if (masked) x = kNegInf;
        }
  return out;
}

}  // namespace detail

namespace {
Tensor additive_mask_for(const AttentionOptions& o, const kernels::AttentionDims& d) {
  return detail::additive_mask(o, d.batch, d.heads, d.q_len, d.kv_len, false);
}
}  // namespace

Var attention_reference(const Var& q_var, const Var& k_var, const Var& v_var,
                        const AttentionOptions& o, Tensor* probabilities) {
  const Tensor q = detail::f32_input(q_var, "attention_reference", "q");
  const auto d = check_qkv(q, detail::f32_input(k_var, "attention_reference", "k"),
                           detail::f32_input(v_var, "attention_reference", "v"), o,
                           "attention_reference");
  // [B, H, Tq, Tk] = Q K^T / sqrt(D) (+ mask)
  Var s = scale(matmul(q_var, permute(k_var, {0, 1, 3, 2})), 1.0f / std::sqrt(float(d.head_dim)));
  const Tensor mask = detail::additive_mask(o, d.batch, d.heads, d.q_len, d.kv_len, true);
  if (mask.defined()) s = add(s, Var(mask));
  Var p = softmax(s);
  if (probabilities) *probabilities = p.value();
  if (dropout_p(o) > 0.f) p = dropout(p, dropout_p(o), true, o.seed);
  return matmul(p, v_var);  // [B, H, Tq, D]
}

Var attention_fused(const Var& q_var, const Var& k_var, const Var& v_var, const AttentionOptions& o) {
  const Tensor q = detail::f32_input(q_var, "attention_fused", "q");
  const Tensor k = detail::f32_input(k_var, "attention_fused", "k");
  const Tensor v = detail::f32_input(v_var, "attention_fused", "v");
  const auto d = check_qkv(q, k, v, o, "attention_fused");
  Tensor additive, lengths;
  const kernels::AttentionMask mask = kernel_mask(o, d, additive, lengths);
  const kernels::AttentionDropout dropout{dropout_p(o), o.seed};
  Tensor out = Tensor::empty(q.shape());
  Tensor lse = Tensor::empty({d.batch, d.heads, d.q_len});
  const auto layouts = kernels::AttentionLayouts::contiguous(d);
  kernels::attention_fused_forward(d, q.f32(), k.f32(), v.f32(), mask, dropout, out.f32(), lse.f32(),
                                   layouts);
  capture_probabilities(o.capture.get(), d, q.f32(), k.f32(), mask, lse, layouts);
  return make_result(out, "attention_fused", {&q_var, &k_var, &v_var},
                     [d, q, k, v, out, lse, additive, lengths, mask, dropout, layouts,
                      capture = o.capture](const Tensor& gy, std::span<Tensor* const> gx) {
    capture_gradient(capture.get(), d, v.f32(), gy, layouts);
    // The kernel writes all three gradients; unneeded ones go to scratch.
    Tensor scratch_q, scratch_k, scratch_v;
    float* dq = gx[0] ? gx[0]->f32() : (scratch_q = Tensor::zeros(q.shape())).f32();
    float* dk = gx[1] ? gx[1]->f32() : (scratch_k = Tensor::zeros(k.shape())).f32();
    float* dv = gx[2] ? gx[2]->f32() : (scratch_v = Tensor::zeros(v.shape())).f32();
    kernels::attention_fused_backward(d, q.f32(), k.f32(), v.f32(), out.f32(), lse.f32(), gy.f32(),
                                      mask, dropout, dq, dk, dv, layouts);
  });
}

Var attention_fused_packed(const Var& q_var, int64_t q_offset, const Var& kv_var, int64_t k_offset,
                           int64_t v_offset, int64_t heads, const AttentionOptions& o) {
  const char* op = "attention_fused_packed";
  const Tensor qs = detail::f32_input(q_var, op, "q_source");
  const Tensor kvs = detail::f32_input(kv_var, op, "kv_source");
  HEED_CHECK(qs.dim() == 3 && kvs.dim() == 3 && qs.size(0) == kvs.size(0), op, ": sources ",
             qs.str(), " and ", kvs.str(), " must be [B, Tq, Wq] and [B, Tk, Wk]");
  HEED_CHECK(heads > 0, op, ": heads must be > 0, got ", heads);
  const int64_t b = qs.size(0), tq = qs.size(1), tk = kvs.size(1), wq = qs.size(2), wk = kvs.size(2);
  // The width E of q, k and v is what lies between the offsets.
  const int64_t e = v_offset - k_offset;
  HEED_CHECK(e > 0 && e % heads == 0 && q_offset >= 0 && q_offset + e <= wq && k_offset >= 0 &&
                 v_offset + e <= wk,
             op, ": offsets q ", q_offset, ", k ", k_offset, ", v ", v_offset, " with ", heads,
             " heads do not fit sources ", qs.str(), " and ", kvs.str());
  const int64_t dh = e / heads;
  const kernels::AttentionDims d{b, heads, tq, tk, dh};
  // Contiguous stand-ins only to validate the options' masks against the shapes.
  check_qkv(Tensor::empty({b, heads, tq, dh}), Tensor::empty({b, heads, tk, dh}),
            Tensor::empty({b, heads, tk, dh}), o, op);
  kernels::AttentionLayouts layouts;
  layouts.q = {tq * wq, dh, wq};
  layouts.k = layouts.v = {tk * wk, dh, wk};
  layouts.o = {tq * e, dh, e};
  Tensor additive, lengths;
  const kernels::AttentionMask mask = kernel_mask(o, d, additive, lengths);
  const kernels::AttentionDropout dropout{dropout_p(o), o.seed};
  Tensor out = Tensor::empty({b, tq, e});  // heads merged: [B, Tq, H * Dh]
  Tensor lse = Tensor::empty({b, heads, tq});
  kernels::attention_fused_forward(d, qs.f32() + q_offset, kvs.f32() + k_offset,
                                   kvs.f32() + v_offset, mask, dropout, out.f32(), lse.f32(), layouts);
  capture_probabilities(o.capture.get(), d, qs.f32() + q_offset, kvs.f32() + k_offset, mask, lse,
                        layouts);
  return make_result(out, op, {&q_var, &kv_var},
                     [d, qs, kvs, q_offset, k_offset, v_offset, out, lse, additive, lengths, mask,
                      dropout, layouts, capture = o.capture](const Tensor& gy,
                                                             std::span<Tensor* const> gx) {
    capture_gradient(capture.get(), d, kvs.f32() + v_offset, gy, layouts);
    // gx[0] and gx[1] are the same buffer for self-attention (one packed qkv): the kernel only
    // adds, into disjoint columns, so that is safe.
    Tensor scratch_q, scratch_kv;
    float* dq = gx[0] ? gx[0]->f32() : (scratch_q = Tensor::zeros(qs.shape())).f32();
    float* dkv = gx[1] ? gx[1]->f32() : (scratch_kv = Tensor::zeros(kvs.shape())).f32();
    kernels::attention_fused_backward(d, qs.f32() + q_offset, kvs.f32() + k_offset,
                                      kvs.f32() + v_offset, out.f32(), lse.f32(), gy.f32(), mask,
                                      dropout, dq + q_offset, dkv + k_offset, dkv + v_offset, layouts);
  });
}

}  // namespace heed
