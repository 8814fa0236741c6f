#include "heed/nn/models/seq2seq.h"

#include <cmath>

#include "heed/ops/ops.h"

namespace heed::nn {

void Seq2SeqConfig::validate() const {
  auto positive = [](int64_t v, const char* key) { HEED_CHECK(v > 0, "model.", key, " must be > 0, got ", v); };
  positive(source_vocab, "source_vocab");
  positive(target_vocab, "target_vocab");
  positive(max_len, "max_len");
  positive(dim, "dim");
  positive(heads, "heads");
  positive(encoder_depth, "encoder_depth");
  positive(decoder_depth, "decoder_depth");
  positive(mlp_hidden, "mlp_hidden");
  HEED_CHECK(dim % heads == 0, "model.heads: ", heads, " heads do not divide model.dim = ", dim);
  HEED_CHECK(!share_embeddings || source_vocab == target_vocab, "model.share_embeddings needs one vocabulary, got ",
             source_vocab, " source and ", target_vocab, " target pieces");
  for (auto [p, key] : {std::pair{dropout, "dropout"}, {attention_dropout, "attention_dropout"}})
    HEED_CHECK(p >= 0.f && p < 1.f, "model.", key, " must be in [0, 1), got ", p);
  HEED_CHECK(layer_norm_eps > 0.f, "model.layer_norm_eps must be > 0, got ", layer_norm_eps);
  HEED_CHECK(positions == "sinusoidal" || positions == "learned",
             "model.positions must be \"sinusoidal\" or \"learned\", got \"", positions, "\"");
  if (!layer_heads.empty()) {
    HEED_CHECK(int64_t(layer_heads.size()) == encoder_depth + 2 * decoder_depth, "model.layer_heads: ",
               layer_heads.size(), " counts for ", encoder_depth + 2 * decoder_depth, " attention layers (encoder_depth "
               "+ 2 x decoder_depth: each decoder layer has a self- and a cross-attention)");
    for (size_t i = 0; i < layer_heads.size(); ++i)
      HEED_CHECK(layer_heads[i] >= 1 && layer_heads[i] <= heads, "model.layer_heads[", i, "] is ", layer_heads[i],
                 ": each layer keeps between 1 and model.heads = ", heads, " heads");
  }
}

int64_t Seq2SeqConfig::attention_heads(int64_t i) const { return layer_head_count(layer_heads, heads, i); }

std::vector<int64_t> Seq2SeqConfig::decoder_self_widths() const {
  std::vector<int64_t> w;
  for (int64_t i = 0; i < decoder_depth; ++i) w.push_back(attention_heads(encoder_depth + 2 * i) * (dim / heads));
  return w;
}

std::vector<int64_t> Seq2SeqConfig::decoder_cross_widths() const {
  std::vector<int64_t> w;
  for (int64_t i = 0; i < decoder_depth; ++i) w.push_back(attention_heads(encoder_depth + 2 * i + 1) * (dim / heads));
  return w;
}

Tensor sinusoidal_positions(int64_t positions, int64_t dim) {
  Tensor t = Tensor::empty({positions, dim});
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < dim; ++i) {
      const double angle = double(p) / std::pow(10000.0, double(i - i % 2) / double(dim));
      t.f32()[p * dim + i] = float(i % 2 == 0 ? std::sin(angle) : std::cos(angle));
    }
  return t;
}

namespace {
// Attention layer `first`'s heads (and, for a decoder layer, first + 1's for its cross-attention).
EncoderLayerOptions layer_options(const Seq2SeqConfig& c, int64_t first, bool decoder) {
  EncoderLayerOptions o;
  o.dim = c.dim;
  o.heads = c.attention_heads(first);
  if (decoder) o.cross_heads = c.attention_heads(first + 1);
  o.head_dim = c.dim / c.heads;
  o.mlp_hidden = c.mlp_hidden;
  o.dropout = c.dropout;
  o.attention_dropout = c.attention_dropout;
  o.pre_norm = c.pre_norm;
  o.layer_norm_eps = c.layer_norm_eps;
  o.naming = MultiHeadAttentionOptions::Naming::Torch;
  return o;
}

void check_ids(const Tensor& ids, const Tensor& lengths, int64_t vocab, int64_t max_len, const char* what) {
  HEED_CHECK(ids.defined() && ids.dtype() == DType::I64 && ids.dim() == 2, "seq2seq: ", what, " must be i64 [B, T], got ",
             ids.defined() ? ids.str() : "nothing");
  HEED_CHECK(ids.size(1) <= max_len, "seq2seq: ", what, " has ", ids.size(1), " positions, more than model.max_len = ",
             max_len);
  HEED_CHECK(lengths.defined() && lengths.dtype() == DType::I64 && lengths.dim() == 1 && lengths.size(0) == ids.size(0),
             "seq2seq: ", what, " lengths must be i64 [", ids.size(0), "]");
  for (int64_t i = 0; i < ids.numel(); ++i)
    HEED_CHECK(ids.i64()[i] >= 0 && ids.i64()[i] < vocab, "seq2seq: ", what, " id ", ids.i64()[i], " outside 0..",
               vocab - 1);
}
}  // namespace

Seq2SeqTransformer::Seq2SeqTransformer(const Seq2SeqConfig& c, uint64_t seed)
    : config((c.validate(), c)), encoder_norm(c.dim, c.layer_norm_eps), decoder_norm(c.dim, c.layer_norm_eps) {
  Rng rng(seed);
  // Normal(0, D^-1/2) embeddings: scaled by sqrt(D) they start at unit variance (fairseq's init).
  const float embed_std = 1.f / std::sqrt(float(c.dim));
  if (c.share_embeddings) {
    register_parameter("embed.weight", &src_embed, trunc_normal({c.source_vocab, c.dim}, embed_std, rng));
  } else {
    register_parameter("src_embed.weight", &src_embed, trunc_normal({c.source_vocab, c.dim}, embed_std, rng));
    register_parameter("tgt_embed.weight", &tgt_embed, trunc_normal({c.target_vocab, c.dim}, embed_std, rng));
  }
  if (c.positions == "learned") {
    register_parameter("src_pos_embed", &src_pos_embed, trunc_normal({1, c.max_len, c.dim}, 0.02f, rng));
    register_parameter("tgt_pos_embed", &tgt_pos_embed, trunc_normal({1, c.max_len, c.dim}, 0.02f, rng));
  } else {
    sinusoid_ = sinusoidal_positions(c.max_len, c.dim);
  }
  for (int64_t i = 0; i < c.encoder_depth; ++i) {
    encoder.push_back(std::make_unique<TransformerEncoderLayer>(layer_options(c, i, false), rng));
    register_module("transformer.encoder.layers." + std::to_string(i), encoder.back().get());
  }
  register_module("transformer.encoder.norm", &encoder_norm);
  for (int64_t i = 0; i < c.decoder_depth; ++i) {
    decoder.push_back(
        std::make_unique<TransformerDecoderLayer>(layer_options(c, c.encoder_depth + 2 * i, true), rng));
    register_module("transformer.decoder.layers." + std::to_string(i), decoder.back().get());
  }
  register_module("transformer.decoder.norm", &decoder_norm);
  if (!c.tie_output) {
    register_parameter("generator.weight", &generator_weight, trunc_normal({c.target_vocab, c.dim}, 0.02f, rng));
    register_parameter("generator.bias", &generator_bias, Tensor::zeros({c.target_vocab}));
  }
}

Var Seq2SeqTransformer::embed(const Tensor& tokens, const Var& table, const Var& learned, int64_t first) {
  const int64_t t = tokens.size(1);
  Var h = scale(embedding(tokens, table), std::sqrt(float(config.dim)));
  if (learned.defined()) return add(h, slice(learned, 1, first, first + t));
  return add(h, Var(sinusoid_.slice(0, first, first + t).contiguous().reshape({1, t, config.dim})));
}

Var Seq2SeqTransformer::encode(const Tensor& source, const Tensor& source_lengths, AttentionRecorder* attention) {
  check_ids(source, source_lengths, config.source_vocab, config.max_len, "source");
  Var h = embed(source, src_embed, src_pos_embed, 0);
  if (training() && config.dropout > 0.f) h = dropout(h, config.dropout, true, next_seed());
  AttentionMasks masks;
  masks.key_lengths = source_lengths;
  for (auto& layer : encoder) h = layer->forward(h, masks, attention ? attention->next() : nullptr);
  return encoder_norm.forward(h);
}

Var Seq2SeqTransformer::decode_all(const Var& memory, const Tensor& source_lengths, const Tensor& target_in,
                                   const Tensor& target_lengths, AttentionRecorder* attention) {
  check_ids(target_in, target_lengths, config.target_vocab, config.max_len, "target");
  Var h = embed(target_in, target_embed(), tgt_pos_embed, 0);
  if (training() && config.dropout > 0.f) h = dropout(h, config.dropout, true, next_seed());
  AttentionMasks masks;
  masks.key_lengths = target_lengths;
  masks.causal = true;
  for (auto& layer : decoder) {
    std::shared_ptr<AttentionCapture> self = attention ? attention->next() : nullptr;
    std::shared_ptr<AttentionCapture> cross = attention ? attention->next() : nullptr;
    h = layer->forward(h, memory, masks, source_lengths, std::move(self), std::move(cross));
  }
  return decoder_norm.forward(h);
}

Var Seq2SeqTransformer::logits(const Var& hidden) {
  return config.tie_output ? linear(hidden, target_embed()) : linear(hidden, generator_weight, generator_bias);
}

ModelOutput Seq2SeqTransformer::forward(const Batch& batch, const ForwardOptions& options) {
  const Tensor& source_lengths = batch.at("source_lengths");
  auto recorder = attention_recorder(options);
  Var memory = encode(batch.at("source"), source_lengths, recorder.get());
  const Tensor& target_in = batch.at("target_in");
  Var h = decode_all(memory, source_lengths, target_in, batch.at("target_lengths"), recorder.get());
  const int64_t b = target_in.size(0), t = target_in.size(1);
  ModelOutput out;
  if (recorder) out.attention = std::move(recorder->layers);
  out.logits = embedding(masked_positions(batch.at("targets")), reshape(h, {b * t, config.dim}));  // [M, D]
  if (config.tie_output) {
    out.output_weight = target_embed();
  } else {  // the bias needs the logits whole: an untied generator is for small vocabularies
    out.logits = logits(out.logits);
  }
  return out;
}

std::unique_ptr<Model> Seq2SeqTransformer::replicate(uint64_t seed) const {
  return std::make_unique<Seq2SeqTransformer>(config, seed);
}

Seq2SeqState Seq2SeqTransformer::start(const Tensor& source, const Tensor& source_lengths, int64_t capacity) {
  HEED_CHECK(!training() && !grad_enabled(), "Seq2SeqTransformer::start is for inference (eval mode, NoGradGuard)");
  HEED_CHECK(capacity <= config.max_len, "seq2seq: a target of ", capacity, " positions, more than model.max_len = ",
             config.max_len);
  const Var memory = encode(source, source_lengths);
  Seq2SeqState state{KvCache(source.size(0), capacity, config.decoder_self_widths()), {}, source_lengths};
  for (auto& layer : decoder) state.memory_kv.push_back(layer->multihead_attn.project_memory(memory));
  return state;
}

Tensor Seq2SeqTransformer::decode_step(const Tensor& tokens, Seq2SeqState& state) {
  HEED_CHECK(!training() && !grad_enabled(), "Seq2SeqTransformer::decode_step is for inference");
  const int64_t b = tokens.size(0), tn = tokens.size(1), past = state.self.length;
  HEED_CHECK(b == state.source_lengths.size(0) && past + tn <= state.self.capacity(), "seq2seq: ", tn,
             " new positions after ", past, " do not fit the state (", state.self.capacity(), " positions, batch ",
             state.source_lengths.size(0), ")");
  check_ids(tokens, Tensor::from_indices({b}, std::vector<int64_t>(size_t(b), tn)), config.target_vocab,
            config.max_len, "target");
  Var h = embed(tokens, target_embed(), tgt_pos_embed, past);
  for (size_t i = 0; i < decoder.size(); ++i)
    h = decoder[i]->forward_cached(h, state.self.layers[i], past, state.memory_kv[i], state.source_lengths);
  state.self.length = past + tn;
  return logits(reshape(slice(decoder_norm.forward(h), 1, tn - 1, tn), {b, config.dim})).value();
}

}  // namespace heed::nn
