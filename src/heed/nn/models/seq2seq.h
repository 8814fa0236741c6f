// An encoder-decoder Transformer (Vaswani et al. 2017) for translation and summarisation, laid
// out as PyTorch's nn.Transformer (batch_first, GELU, norm_first for pre-norm) between token
// embeddings and an output layer, so that its parameters map one to one onto
// tools/seq2seq.py's reference:
//   embed.weight [V, D] (shared source/target vocabulary) or src_embed.weight, tgt_embed.weight;
//   src_pos_embed, tgt_pos_embed [1, max_len, D] with learned positions (none: sinusoidal);
//   transformer.encoder.layers.i.{self_attn, linear1, linear2, norm1, norm2}.*,
//   transformer.encoder.norm.*, transformer.decoder.layers.i.{self_attn, multihead_attn,
//   linear1, linear2, norm1, norm2, norm3}.*, transformer.decoder.norm.*;
//   generator.{weight, bias} unless the output is tied to the target embedding.
// Embeddings are scaled by sqrt(D) before the positions are added.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heed/nn/model.h"
#include "heed/nn/transformer.h"

namespace heed::nn {

struct Seq2SeqConfig {
  int64_t source_vocab = 8000, target_vocab = 8000;
  bool share_embeddings = true;  // one vocabulary and one embedding for both sides
  bool tie_output = true;        // the output layer is the target embedding (no generator)
  int64_t max_len = 256;
  int64_t dim = 256, heads = 4, encoder_depth = 3, decoder_depth = 3, mlp_hidden = 1024;
  float dropout = 0.1f, attention_dropout = 0.f;
  bool pre_norm = true;
  float layer_norm_eps = 1e-5f;
  std::string positions = "sinusoidal";  // sinusoidal | learned
  // After heed prune --out: the heads each attention layer kept, in module order: each encoder
  // layer's self-attention, then each decoder layer's self-attention and cross-attention
  // (encoder_depth + 2 x decoder_depth counts). Empty: every layer has `heads`.
  std::vector<int64_t> layer_heads;

  // Throws naming the first impossible field (model.<key>).
  void validate() const;
  // The heads of attention layer i (in layer_heads' order).
  int64_t attention_heads(int64_t i) const;
  // Each decoder layer's self-attention width (its KV cache) and cross-attention width (its
  // projected memory).
  std::vector<int64_t> decoder_self_widths() const;
  std::vector<int64_t> decoder_cross_widths() const;
};

// The decoder's state while generating: each layer's self-attention cache and the memory's
// keys and values for its cross-attention, projected once per source.
struct Seq2SeqState {
  KvCache self;
  std::vector<Tensor> memory_kv;  // per decoder layer, [B, S, 2D]
  Tensor source_lengths;          // i64 [B]
};

class Seq2SeqTransformer : public Model {
 public:
  Seq2SeqTransformer(const Seq2SeqConfig& config, uint64_t seed);
  // Batch "source" [B, S], "source_lengths" [B], "target_in" [B, T] (the decoder's input:
  // [CLS] then the target), "target_lengths" [B] and "targets" [B, T] (the next target token,
  // -100 where there is none) -> hidden states [M, D] at the M positions with a target, with the
  // output weight (the loss makes the logits a chunk at a time).
  ModelOutput forward(const Batch& batch, const ForwardOptions& options = {}) override;
  std::unique_ptr<Model> replicate(uint64_t seed) const override;
  std::string type() const override { return "seq2seq-transformer"; }

  // The encoder's output [B, S, D] (after transformer.encoder.norm). Each layer's attention is
  // captured by `attention` when given (as every attention below, in layer_heads' order).
  Var encode(const Tensor& source, const Tensor& source_lengths, AttentionRecorder* attention = nullptr);
  // The decoder's output [B, T, D] (after transformer.decoder.norm) over `memory`.
  Var decode_all(const Var& memory, const Tensor& source_lengths, const Tensor& target_in, const Tensor& target_lengths,
                 AttentionRecorder* attention = nullptr);
  // Logits [N, V] of hidden states [N, D].
  Var logits(const Var& hidden);

  // Generation: the state for `source` with room for `capacity` target positions; then each
  // step's tokens [B, Tn] -> the logits [B, V] of the last. Inference only.
  Seq2SeqState start(const Tensor& source, const Tensor& source_lengths, int64_t capacity);
  Tensor decode_step(const Tensor& tokens, Seq2SeqState& state);

  Seq2SeqConfig config;
  // With share_embeddings, tgt_embed stays undefined and target_embed() is src_embed. (A copy of
  // the Var would be a second handle that data-parallel replicas, which relink each registered
  // parameter to the master's, never relink: their decoders read their own initial table.)
  Var src_embed, tgt_embed;
  const Var& target_embed() const { return config.share_embeddings ? src_embed : tgt_embed; }
  Var src_pos_embed, tgt_pos_embed;  // learned positions only
  std::vector<std::unique_ptr<TransformerEncoderLayer>> encoder;
  LayerNorm encoder_norm;
  std::vector<std::unique_ptr<TransformerDecoderLayer>> decoder;
  LayerNorm decoder_norm;
  Var generator_weight, generator_bias;  // untied output only

 private:
  Var embed(const Tensor& tokens, const Var& table, const Var& learned, int64_t first_position);
  Tensor sinusoid_;  // [max_len, D]
};

// The sinusoidal position table [positions, dim]: sin(p / 10000^(2i/dim)) at 2i, cos at 2i + 1.
Tensor sinusoidal_positions(int64_t positions, int64_t dim);

}  // namespace heed::nn
