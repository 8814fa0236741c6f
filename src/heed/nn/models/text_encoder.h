// Transformer text encoders (BERT's shape, with pre-norm blocks by default): token embedding,
// learned positions, encoder layers over right-padded token sequences (key padding from the
// lengths), a final LayerNorm; then a head:
//   TextClassifier       [CLS] or masked-mean pooling, a Linear to the classes; a long text
//                        given as windows (tokens [B, W, T]) has each window pooled alone
//                        and the windows averaged before the Linear;
//   MaskedLanguageModel  BERT's MLM head (dense, GELU, LayerNorm, a decoder tied to the token
//                        embedding plus its own bias), evaluated at the masked positions only;
//   CausalLanguageModel  GPT's shape: the same trunk with causal self-attention, the next token
//                        predicted at every position by the tied token embedding (no bias),
//                        and decoding with a KV cache.
// Parameter names (the same in both, so an MLM encoder loads into a classifier by name):
//   tok_embed.weight [V, D], pos_embed [1, max_len, D], blocks.i.* (timm's Block names, as the
//   ViT), norm.{weight,bias}; head.{weight,bias} [K, D], [K]; mlm.dense.{weight,bias},
//   mlm.norm.{weight,bias}, mlm.bias [V]. tools/text_encoder.py is the PyTorch reference.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heed/nn/layers.h"
#include "heed/nn/model.h"
#include "heed/nn/transformer.h"

namespace heed::nn {

struct TextEncoderConfig {
  int64_t vocab_size = 8000, max_len = 256;
  int64_t dim = 128, depth = 4, heads = 4;
  std::vector<int64_t> layer_heads;  // after heed prune --out: heads kept per block (nn/transformer.h)
  double mlp_ratio = 4.0;
  float dropout = 0.1f, attention_dropout = 0.f, drop_path = 0.f;
  bool pre_norm = true;
  float layer_norm_eps = 1e-6f;
  std::string pooling = "cls";  // cls | mean (classifier only)
  int64_t num_classes = 2;      // classifier only

  // Throws naming the first impossible field (model.<key>).
  void validate() const;
  int64_t mlp_hidden() const { return static_cast<int64_t>(double(dim) * mlp_ratio); }
  // Parameters of the trunk with a classifier head (`classifier`) or the masked-LM head, from the
  // config alone (before building it: memory checks).
  int64_t parameter_count(bool classifier) const;
  // Each block's attention width (its heads x dim / heads): what a KV cache holds per layer.
  std::vector<int64_t> attention_widths() const;
};

// The shared trunk: embeddings, blocks, final norm.
class TextEncoder : public Model {
 public:
  // tokens i64 [B, T] (T <= max_len), lengths i64 [B] -> hidden states [B, T, D]; each block's
  // attention is captured by `attention` when given.
  Var encode(const Tensor& tokens, const Tensor& lengths, AttentionRecorder* attention = nullptr);

  TextEncoderConfig config;
  Var pos_embed;
  Var tok_embed;  // named "tok_embed.weight"
  std::vector<std::unique_ptr<TransformerEncoderLayer>> blocks;
  LayerNorm norm;

 protected:
  bool causal_ = false;  // the blocks' self-attention is causal (a language model's)
  // Draws the trunk's initial values from Rng(seed), which the heads then continue.
  TextEncoder(const TextEncoderConfig& config, uint64_t seed);
  Rng& init_rng() { return rng_; }

 private:
  Rng rng_;
};

class TextClassifier : public TextEncoder {
 public:
  TextClassifier(const TextEncoderConfig& config, uint64_t seed);
  // Batch "tokens", "lengths" -> logits [B, num_classes].
  ModelOutput forward(const Batch& batch, const ForwardOptions& options = {}) override;
  std::unique_ptr<Model> replicate(uint64_t seed) const override;
  std::string type() const override { return "text-classifier"; }
  Linear head;
};

class MaskedLanguageModel : public TextEncoder {
 public:
  MaskedLanguageModel(const TextEncoderConfig& config, uint64_t seed);
  // Batch "tokens", "lengths", "mlm_labels" (i64 [B, T], -100 where not masked) -> logits
  // [M, vocab_size] for the M masked positions in row-major order.
  ModelOutput forward(const Batch& batch, const ForwardOptions& options = {}) override;
  std::unique_ptr<Model> replicate(uint64_t seed) const override;
  std::string type() const override { return "text-mlm"; }
  Linear dense;
  LayerNorm mlm_norm;
  Var mlm_bias;
};

class CausalLanguageModel : public TextEncoder {
 public:
  CausalLanguageModel(const TextEncoderConfig& config, uint64_t seed);
  // Batch "tokens", "lengths" and "targets" (i64 [B, T]: the next token, -100 where there is
  // none) -> hidden states [M, D] at the M positions with a target (row-major), with the token
  // embedding as output_weight (the loss makes the [M, V] logits in chunks). Without "targets":
  // logits [B, V] at each row's last position (the next token's).
  ModelOutput forward(const Batch& batch, const ForwardOptions& options = {}) override;
  std::unique_ptr<Model> replicate(uint64_t seed) const override;
  std::string type() const override { return "text-causal-lm"; }

  // Decoding: `tokens` [B, Tn] are the next Tn positions of every row after the cache's
  // cache.length; appends their keys and values and returns the logits [B, V] of the last one.
  // Inference only (NoGradGuard, eval mode). The same logits as forward() on the whole prefix.
  Tensor decode(const Tensor& tokens, KvCache& cache);
  KvCache new_cache(int64_t batch, int64_t capacity) const;
};


}  // namespace heed::nn
