#include "heed/nn/transformer.h"

#include "heed/core/rng.h"
#include "heed/ops/ops.h"

namespace heed::nn {

namespace {
MultiHeadAttentionOptions attention_options(const EncoderLayerOptions& o) {
  MultiHeadAttentionOptions a;
  a.attention_dropout = o.attention_dropout;
  a.projection_dropout = o.dropout;
  a.naming = o.naming;
  return a;
}
}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(const EncoderLayerOptions& o, Rng& rng)
    : options(o),
      norm1(o.dim, o.layer_norm_eps),
      attn(o.dim, o.heads, attention_options(o), rng),
      norm2(o.dim, o.layer_norm_eps),
      mlp(o.dim, o.mlp_hidden, o.dropout, rng) {
  register_module("norm1", &norm1);
  register_module("attn", &attn);
  register_module("norm2", &norm2);
  register_module("mlp", &mlp);
}

Var TransformerEncoderLayer::forward(const Var& x, const AttentionMasks& masks, Tensor* weights) {
  const float p = options.drop_path;
  if (options.pre_norm) {
    Var h = add(x, drop_path(attn.forward(norm1.forward(x), masks, weights), p, training()));
    return add(h, drop_path(mlp.forward(norm2.forward(h)), p, training()));
  }
  Var h = norm1.forward(add(x, drop_path(attn.forward(x, masks, weights), p, training())));
  return norm2.forward(add(h, drop_path(mlp.forward(h), p, training())));
}

Var drop_path(const Var& branch, float p, bool training) {
  HEED_CHECK(p >= 0.f && p < 1.f, "drop_path: probability must be in [0, 1), got ", p);
  if (!training || p == 0.f) return branch;
  const int64_t batch = branch.size(0);
  Shape mask_shape(size_t(branch.value().dim()), 1);
  mask_shape[0] = batch;
  Tensor mask = Tensor::empty(mask_shape);
  const uint64_t seed = next_seed();
  for (int64_t b = 0; b < batch; ++b)
    mask.f32()[b] = random_uniform(seed, uint64_t(b)) >= p ? 1.0f / (1.0f - p) : 0.f;
  return mul(branch, Var(mask));
}

}  // namespace heed::nn
