// SASRec (Kang & McAuley, "Self-Attentive Sequential Recommendation", ICDM 2018): a user's items
// as a sequence, causal self-attention over it, the next item predicted at every position.
//   h = item_embed(items) * sqrt(D) + pos_embed[position], dropout, `depth` pre-norm causal blocks
//   (the fused kernel: causal + key padding), a final LayerNorm; the score of item j at a
//   position is h . item_embed[j] (the embedding is shared with the output layer).
// Sequences are right-padded with item 0 (RecBole's layout): position 0 holds the oldest item
// kept, so the causal mask alone keeps real positions off the padding; key padding is applied too.
// Two training outputs (model.loss):
//   "ce"   full softmax cross-entropy over every item (SASRec+, Klenitskiy & Vasilev 2023):
//          the hidden states [M, D] at the M positions that have a next item, with the item
//          embedding as ModelOutput::output_weight (the loss makes the [M, items + 1] logits
//          chunk by chunk: ops linear_cross_entropy);
//   "bce"  the paper's binary cross-entropy with one sampled negative per position: logits
//          [M, 2] = (score of the next item, score of the negative).
// Evaluation batches (no "next_items") give logits [B, items + 1] at each row's last position.
// Parameter names: item_embed.weight [items + 1, D], pos_embed [1, max_len, D], blocks.i.*
// (timm's Block names, as the ViT), norm.{weight,bias}.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heed/nn/layers.h"
#include "heed/nn/model.h"
#include "heed/nn/transformer.h"

namespace heed::nn {

struct SasRecConfig {
  int64_t items = 1000;  // item ids 1..items (0 is padding); set from the data
  int64_t max_len = 200;
  int64_t dim = 64, depth = 2, heads = 1;
  double mlp_ratio = 1.0;
  float dropout = 0.2f, attention_dropout = 0.f;
  float layer_norm_eps = 1e-8f;
  std::string loss = "ce";  // ce | bce
  // What a position embedding counts: "start" (RecBole: the oldest item kept is position 0) or
  // "end" (the paper's left padding: the newest item is always the same position, so the
  // embedding says how recent an item is).
  std::string positions = "start";

  // Throws naming the first impossible field (model.<key>).
  void validate() const;
  int64_t mlp_hidden() const { return std::max<int64_t>(1, int64_t(double(dim) * mlp_ratio)); }
  int64_t parameter_count() const;
};

class SasRec : public Model {
 public:
  SasRec(const SasRecConfig& config, uint64_t seed);
  // Batch "items" i64 [B, T] (right-padded with 0), "lengths" i64 [B]; with "next_items"
  // [B, T] (0 where there is none) the training logits, with "negatives" [B, T] as well for
  // "bce"; without, the scores at each row's last position.
  ModelOutput forward(const Batch& batch, const ForwardOptions& options = {}) override;
  std::unique_ptr<Model> replicate(uint64_t seed) const override;
  std::string type() const override { return "sasrec"; }

  // Hidden states [B, T, D] of right-padded item sequences.
  Var encode(const Tensor& items, const Tensor& lengths, AttentionRecorder* attention = nullptr);

  SasRecConfig config;
  Var item_embed;  // named "item_embed.weight"
  Var pos_embed;
  std::vector<std::unique_ptr<TransformerEncoderLayer>> blocks;
  LayerNorm norm;
};

// Per row of length L, position p < L counts from the end: L - 1 - p (0 for padding).
Tensor positions_from_end(const Tensor& lengths, int64_t t);
// Flat indices (b * T + t) of the entries of `ids` [B, T] that are not 0, row-major.
Tensor nonzero_positions(const Tensor& ids);
// The entries of `ids` at `positions`.
Tensor take(const Tensor& ids, const Tensor& positions);

}  // namespace heed::nn
