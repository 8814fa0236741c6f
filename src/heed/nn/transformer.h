// Transformer encoder layer (timm's Block names: norm1, attn, norm2, mlp; or, with Naming::Torch,
// nn.TransformerEncoderLayer's: self_attn, linear1, linear2, norm1, norm2), pre-norm by default:
//   pre-norm:  x = x + drop_path(attn(norm1(x)));  x = x + drop_path(mlp(norm2(x)))
//   post-norm: x = norm1(x + attn(x));             x = norm2(x + mlp(x))
#pragma once

#include <algorithm>
#include <vector>

#include "heed/nn/attention.h"
#include "heed/nn/layers.h"

namespace heed::nn {

struct EncoderLayerOptions {
  int64_t dim = 64, heads = 4, mlp_hidden = 128;
  int64_t head_dim = 0;           // 0: dim / heads; a pruned layer keeps the original head width
  int64_t cross_heads = 0;        // a decoder layer's cross-attention heads; 0: heads
  float dropout = 0.f;            // after the MLP's layers and the attention projection
  float attention_dropout = 0.f;  // on attention probabilities
  float drop_path = 0.f;          // stochastic depth: drop a residual branch per sample
  bool pre_norm = true;
  float layer_norm_eps = 1e-6f;
  MultiHeadAttentionOptions::Naming naming = MultiHeadAttentionOptions::Naming::Timm;
};

// Parameters of `depth` encoder layers of width `dim` and MLP width `mlp_hidden` (attention
// qkv + proj, two LayerNorms, the MLP), from the shapes alone: for memory estimates before a
// model is built.
int64_t encoder_parameters(int64_t dim, int64_t depth, int64_t mlp_hidden);

// A model config's per-layer head counts after `heed prune --out` removed heads: empty (every
// layer has `heads`), or `depth` counts in [1, heads]. Errors name model.layer_heads.
void check_layer_heads(const std::vector<int64_t>& layer_heads, int64_t depth, int64_t heads);
// Layer i's heads under such a list.
inline int64_t layer_head_count(const std::vector<int64_t>& layer_heads, int64_t heads, int64_t i) {
  return layer_heads.empty() ? heads : layer_heads[size_t(i)];
}
// Floats a training step keeps for backward through such layers on `batch` sequences of
// `tokens` tokens: the per-token activations of each layer (an upper estimate) and the
// attention probabilities of the composed path. For memory estimates.
int64_t encoder_activation_floats(int64_t batch, int64_t tokens, int64_t dim, int64_t depth, int64_t heads,
                                  int64_t mlp_hidden);

class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(const EncoderLayerOptions& options, Rng& rng);
  // x [B, T, D] -> [B, T, D]; a `capture` receives the attention probabilities [B, H, T, T].
  Var forward(const Var& x, const AttentionMasks& masks = {},
              std::shared_ptr<AttentionCapture> capture = nullptr);

  // Decoding with a KV cache: x [B, Tn, D] after `past` cached positions (causal self-attention;
  // MultiHeadAttention::forward_cached). Inference only.
  Var forward_cached(const Var& x, Tensor& cache, int64_t past);

  EncoderLayerOptions options;
  LayerNorm norm1;
  MultiHeadAttention attn;
  LayerNorm norm2;
  FeedForward mlp;
};

// Transformer decoder layer, nn.TransformerDecoderLayer's names (self_attn, multihead_attn,
// linear1, linear2, norm1, norm2, norm3; GELU):
//   pre-norm:  x += self_attn(norm1(x)) [causal];  x += multihead_attn(norm2(x), memory);
//              x += mlp(norm3(x))
//   post-norm: x = norm1(x + self_attn(x));  x = norm2(x + multihead_attn(x, memory));
//              x = norm3(x + mlp(x))
class TransformerDecoderLayer : public Module {
 public:
  TransformerDecoderLayer(const EncoderLayerOptions& options, Rng& rng);  // naming is Torch's
  // x [B, T, D] over memory [B, S, D]: `self_masks` (causal, target key padding) for the self-
  // attention, `memory_lengths` (i64 [B]) the memory's key padding. The captures, when given,
  // receive the self- and the cross-attention's probabilities (MultiHeadAttention::forward).
  Var forward(const Var& x, const Var& memory, const AttentionMasks& self_masks, const Tensor& memory_lengths,
              std::shared_ptr<AttentionCapture> self_capture = nullptr,
              std::shared_ptr<AttentionCapture> cross_capture = nullptr);
  // Decoding: x [B, Tn, D] after `past` positions of `cache`; the memory's keys and values
  // projected once (MultiHeadAttention::project_memory). Inference only.
  Var forward_cached(const Var& x, Tensor& cache, int64_t past, const Tensor& memory_kv, const Tensor& memory_lengths);

  EncoderLayerOptions options;
  LayerNorm norm1;
  MultiHeadAttention self_attn;
  LayerNorm norm2;
  MultiHeadAttention multihead_attn;
  LayerNorm norm3;
  FeedForward mlp;
};

// The keys and values a stack of causal layers keeps while decoding: one [B, capacity, 2W]
// buffer per layer (W its attention's inner width: the model width, or less after heed prune
// removed heads), allocated once for the longest sequence, filled position by position.
struct KvCache {
  std::vector<Tensor> layers;
  int64_t length = 0;  // positions held

  // One zeroed [batch, capacity, 2 * widths[i]] buffer per layer; kv_cache_bytes() of them.
  KvCache(int64_t batch, int64_t capacity, const std::vector<int64_t>& widths);
  // depth layers of width dim.
  KvCache(int64_t batch, int64_t capacity, int64_t dim, int64_t depth)
      : KvCache(batch, capacity, std::vector<int64_t>(size_t(std::max<int64_t>(depth, 0)), dim)) {}
  int64_t capacity() const { return layers.empty() ? 0 : layers[0].size(1); }
};
// Bytes a KV cache of layers of the given widths takes for `tokens` positions of `batch`
// sequences (f32 keys and values): 8 * (the widths' sum) per token and sequence.
int64_t kv_cache_bytes(int64_t batch, int64_t tokens, const std::vector<int64_t>& widths);
// `depth` layers of width `dim`: 8 * dim * depth per token and sequence.
int64_t kv_cache_bytes(int64_t batch, int64_t tokens, int64_t dim, int64_t depth);

// Stochastic depth (per-sample): zeroes the whole branch of a sample with probability p and
// scales the rest by 1 / (1 - p). Identity when not training or p == 0.
Var drop_path(const Var& branch, float p, bool training);

}  // namespace heed::nn
