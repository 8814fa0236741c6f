#include "heed/nn/transformer.h"

#include "heed/core/rng.h"
#include "heed/ops/ops.h"

namespace heed::nn {

int64_t encoder_parameters(int64_t dim, int64_t depth, int64_t mlp_hidden) {
  const double d = double(dim), h = double(mlp_hidden);
  const double layer = 4 * d * d + 4 * d + 4 * d + 2 * d * h + h + d;  // qkv, proj; norms; fc1, fc2
  const double total = layer * double(depth);
  return total > 9e18 ? int64_t{9000000000000000000} : int64_t(total);
}

int64_t encoder_activation_floats(int64_t batch, int64_t tokens, int64_t dim, int64_t depth, int64_t heads,
                                  int64_t mlp_hidden) {
  // Per layer and token: norms, qkv, attention output, projection, residuals (about 12 x dim)
  // and the MLP's hidden pre- and post-GELU (2 x hidden); plus the probabilities per head.
  const double rows = double(batch) * double(tokens);
  const double per_layer = rows * (12.0 * double(dim) + 2.0 * double(mlp_hidden)) +
                           double(batch) * double(heads) * double(tokens) * double(tokens);
  const double total = per_layer * double(depth);
  return total > 9e18 ? int64_t{9000000000000000000} : int64_t(total);
}

void check_layer_heads(const std::vector<int64_t>& layer_heads, int64_t depth, int64_t heads) {
  if (layer_heads.empty()) return;
  HEED_CHECK(int64_t(layer_heads.size()) == depth, "model.layer_heads: ", layer_heads.size(),
             " counts for ", depth, " layers (model.depth)");
  for (size_t i = 0; i < layer_heads.size(); ++i)
    HEED_CHECK(layer_heads[i] >= 1 && layer_heads[i] <= heads, "model.layer_heads[", i, "] is ", layer_heads[i],
               ": each layer keeps between 1 and model.heads = ", heads, " heads");
}

namespace {

MultiHeadAttentionOptions attention_options(const EncoderLayerOptions& o) {
  MultiHeadAttentionOptions a;
  a.attention_dropout = o.attention_dropout;
  a.projection_dropout = o.dropout;
  a.naming = o.naming;
  return a;
}
bool torch_names(const EncoderLayerOptions& o) { return o.naming == MultiHeadAttentionOptions::Naming::Torch; }

EncoderLayerOptions torch_naming(EncoderLayerOptions o) {
  o.naming = MultiHeadAttentionOptions::Naming::Torch;
  return o;
}
}  // namespace

TransformerEncoderLayer::TransformerEncoderLayer(const EncoderLayerOptions& o, Rng& rng)
    : options(o),
      norm1(o.dim, o.layer_norm_eps),
      attn(o.dim, o.heads, attention_options(o), rng, o.head_dim),
      norm2(o.dim, o.layer_norm_eps),
      mlp(o.dim, o.mlp_hidden, o.dropout, rng, torch_names(o) ? "linear1" : "fc1", torch_names(o) ? "linear2" : "fc2") {
  register_module("norm1", &norm1);
  register_module(torch_names(o) ? "self_attn" : "attn", &attn);
  register_module("norm2", &norm2);
  register_module(torch_names(o) ? "" : "mlp", &mlp);
}

Var TransformerEncoderLayer::forward(const Var& x, const AttentionMasks& masks,
                                     std::shared_ptr<AttentionCapture> capture) {
  const float p = options.drop_path;
  if (options.pre_norm) {
    Var h = add(x, drop_path(attn.forward(norm1.forward(x), masks, std::move(capture)), p, training()));
    return add(h, drop_path(mlp.forward(norm2.forward(h)), p, training()));
  }
  Var h = norm1.forward(add(x, drop_path(attn.forward(x, masks, std::move(capture)), p, training())));
  return norm2.forward(add(h, drop_path(mlp.forward(h), p, training())));
}

Var TransformerEncoderLayer::forward_cached(const Var& x, Tensor& cache, int64_t past) {
  if (options.pre_norm) {
    Var h = add(x, attn.forward_cached(norm1.forward(x), cache, past));
    return add(h, mlp.forward(norm2.forward(h)));
  }
  Var h = norm1.forward(add(x, attn.forward_cached(x, cache, past)));
  return norm2.forward(add(h, mlp.forward(h)));
}

TransformerDecoderLayer::TransformerDecoderLayer(const EncoderLayerOptions& o, Rng& rng)
    : options(torch_naming(o)),
      norm1(o.dim, o.layer_norm_eps),
      self_attn(o.dim, o.heads, attention_options(options), rng, o.head_dim),
      norm2(o.dim, o.layer_norm_eps),
      multihead_attn(o.dim, o.cross_heads > 0 ? o.cross_heads : o.heads, attention_options(options), rng, o.head_dim),
      norm3(o.dim, o.layer_norm_eps),
      mlp(o.dim, o.mlp_hidden, o.dropout, rng, "linear1", "linear2") {
  HEED_CHECK(o.drop_path == 0.f, "TransformerDecoderLayer: drop_path is not supported");
  register_module("self_attn", &self_attn);
  register_module("multihead_attn", &multihead_attn);
  register_module("", &mlp);
  register_module("norm1", &norm1);
  register_module("norm2", &norm2);
  register_module("norm3", &norm3);
}

Var TransformerDecoderLayer::forward(const Var& x, const Var& memory, const AttentionMasks& self_masks,
                                     const Tensor& memory_lengths, std::shared_ptr<AttentionCapture> self_capture,
                                     std::shared_ptr<AttentionCapture> cross_capture) {
  AttentionMasks cross;
  cross.key_lengths = memory_lengths;
  if (options.pre_norm) {
    Var h = add(x, self_attn.forward(norm1.forward(x), self_masks, std::move(self_capture)));
    h = add(h, multihead_attn.forward_cross(norm2.forward(h), memory, cross, std::move(cross_capture)));
    return add(h, mlp.forward(norm3.forward(h)));
  }
  Var h = norm1.forward(add(x, self_attn.forward(x, self_masks, std::move(self_capture))));
  h = norm2.forward(add(h, multihead_attn.forward_cross(h, memory, cross, std::move(cross_capture))));
  return norm3.forward(add(h, mlp.forward(h)));
}

Var TransformerDecoderLayer::forward_cached(const Var& x, Tensor& cache, int64_t past, const Tensor& memory_kv,
                                            const Tensor& memory_lengths) {
  if (options.pre_norm) {
    Var h = add(x, self_attn.forward_cached(norm1.forward(x), cache, past));
    h = add(h, multihead_attn.forward_cross_cached(norm2.forward(h), memory_kv, memory_lengths));
    return add(h, mlp.forward(norm3.forward(h)));
  }
  Var h = norm1.forward(add(x, self_attn.forward_cached(x, cache, past)));
  h = norm2.forward(add(h, multihead_attn.forward_cross_cached(h, memory_kv, memory_lengths)));
  return norm3.forward(add(h, mlp.forward(h)));
}

KvCache::KvCache(int64_t batch, int64_t capacity, const std::vector<int64_t>& widths) {
  HEED_CHECK(batch > 0 && capacity > 0 && !widths.empty(), "KvCache: batch ", batch, ", capacity ", capacity,
             " and layers ", widths.size(), " must all be > 0");
  for (int64_t w : widths) {
    HEED_CHECK(w > 0, "KvCache: a layer of width ", w, " (must be > 0)");
    layers.push_back(Tensor::zeros({batch, capacity, 2 * w}));
  }
}

int64_t kv_cache_bytes(int64_t batch, int64_t tokens, const std::vector<int64_t>& widths) {
  double width = 0;
  for (int64_t w : widths) width += double(w);
  const double bytes = 8.0 * width * double(tokens) * double(batch);
  return bytes > 9e18 ? int64_t{9000000000000000000} : int64_t(bytes);
}

int64_t kv_cache_bytes(int64_t batch, int64_t tokens, int64_t dim, int64_t depth) {
  return kv_cache_bytes(batch, tokens, std::vector<int64_t>(size_t(std::max<int64_t>(depth, 0)), dim));
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
