// Transformer text encoders (BERT's shape, with pre-norm blocks by default): token embedding,
// learned positions, encoder layers over right-padded token sequences (key padding from the
// lengths), a final LayerNorm; then a head:
//   TextClassifier       [CLS] or masked-mean pooling, a Linear to the classes;
//   MaskedLanguageModel  BERT's MLM head (dense, GELU, LayerNorm, a decoder tied to the token
//                        embedding plus its own bias), evaluated at the masked positions only.
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

// Flat indices (b * T + t) of the positions with label != -100, row-major.
Tensor masked_positions(const Tensor& labels);

}  // namespace heed::nn
