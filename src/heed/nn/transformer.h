// Transformer encoder layer (timm's Block names: norm1, attn, norm2, mlp), pre-norm by default:
//   pre-norm:  x = x + drop_path(attn(norm1(x)));  x = x + drop_path(mlp(norm2(x)))
//   post-norm: x = norm1(x + attn(x));             x = norm2(x + mlp(x))
#pragma once

#include "heed/nn/attention.h"
#include "heed/nn/layers.h"

namespace heed::nn {

struct EncoderLayerOptions {
  int64_t dim = 64, heads = 4, mlp_hidden = 128;
  float dropout = 0.f;            // after the MLP's layers and the attention projection
  float attention_dropout = 0.f;  // on attention probabilities
  float drop_path = 0.f;          // stochastic depth: drop a residual branch per sample
  bool pre_norm = true;
  float layer_norm_eps = 1e-6f;
  MultiHeadAttentionOptions::Naming naming = MultiHeadAttentionOptions::Naming::Timm;
};

class TransformerEncoderLayer : public Module {
 public:
  TransformerEncoderLayer(const EncoderLayerOptions& options, Rng& rng);
  // x [B, T, D] -> [B, T, D]; `weights` receives the attention probabilities [B, H, T, T].
  Var forward(const Var& x, const AttentionMasks& masks = {}, Tensor* weights = nullptr);

  EncoderLayerOptions options;
  LayerNorm norm1;
  MultiHeadAttention attn;
  LayerNorm norm2;
  FeedForward mlp;
};

// Stochastic depth (per-sample): zeroes the whole branch of a sample with probability p and
// scales the rest by 1 / (1 - p). Identity when not training or p == 0.
Var drop_path(const Var& branch, float p, bool training);

}  // namespace heed::nn
