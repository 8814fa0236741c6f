#include "heed/nn/models/text_encoder.h"

#include <algorithm>

#include "heed/ops/ops.h"

namespace heed::nn {

void TextEncoderConfig::validate() const {
  auto positive = [](int64_t v, const char* key) { HEED_CHECK(v > 0, "model.", key, " must be > 0, got ", v); };
  positive(vocab_size, "vocab_size");
  positive(max_len, "max_len");
  positive(dim, "dim");
  positive(depth, "depth");
  positive(heads, "heads");
  HEED_CHECK(dim % heads == 0, "model.heads: ", heads, " heads do not divide model.dim = ", dim);
  check_layer_heads(layer_heads, depth, heads);
  HEED_CHECK(mlp_ratio > 0, "model.mlp_ratio must be > 0, got ", mlp_ratio);
  for (auto [p, key] : {std::pair{dropout, "dropout"}, {attention_dropout, "attention_dropout"},
                        {drop_path, "drop_path"}})
    HEED_CHECK(p >= 0.f && p < 1.f, "model.", key, " must be in [0, 1), got ", p);
  HEED_CHECK(layer_norm_eps > 0.f, "model.layer_norm_eps must be > 0, got ", layer_norm_eps);
  HEED_CHECK(pooling == "cls" || pooling == "mean", "model.pooling must be \"cls\" or \"mean\", got \"", pooling,
             "\"");
}

int64_t TextEncoderConfig::parameter_count(bool classifier) const {
  const double d = double(dim);
  const double trunk = double(vocab_size) * d + double(max_len) * d + double(encoder_parameters(dim, depth, mlp_hidden())) +
                       2 * d;
  // classifier: head [K, D] + [K]; MLM: dense [D, D] + [D], norm, tied decoder's bias [V]
  const double head = classifier ? d * double(num_classes) + double(num_classes) : d * d + 3 * d + double(vocab_size);
  const double total = trunk + head;
  return total > 9e18 ? int64_t{9000000000000000000} : int64_t(total);
}

std::vector<int64_t> TextEncoderConfig::attention_widths() const {
  std::vector<int64_t> widths;
  for (int64_t i = 0; i < depth; ++i) widths.push_back(layer_head_count(layer_heads, heads, i) * (dim / heads));
  return widths;
}

namespace {
EncoderLayerOptions layer_options(const TextEncoderConfig& c, int64_t i) {
  EncoderLayerOptions layer;
  layer.dim = c.dim;
  layer.heads = layer_head_count(c.layer_heads, c.heads, i);
  layer.head_dim = c.dim / c.heads;
  layer.mlp_hidden = c.mlp_hidden();
  layer.dropout = c.dropout;
  layer.attention_dropout = c.attention_dropout;
  layer.pre_norm = c.pre_norm;
  layer.layer_norm_eps = c.layer_norm_eps;
  layer.drop_path = c.depth > 1 ? c.drop_path * float(i) / float(c.depth - 1) : c.drop_path;
  return layer;
}

void check_tokens(const Tensor& tokens, const Tensor& lengths, const TextEncoderConfig& c) {
  HEED_CHECK(tokens.defined() && tokens.dtype() == DType::I64 && tokens.dim() == 2, "text encoder: tokens must be "
             "i64 [B, T], got ", tokens.defined() ? tokens.str() : "nothing");
  HEED_CHECK(tokens.size(1) <= c.max_len, "text encoder: ", tokens.size(1), " tokens, more than model.max_len = ",
             c.max_len);
  HEED_CHECK(lengths.defined() && lengths.dtype() == DType::I64 && lengths.dim() == 1 &&
                 lengths.size(0) == tokens.size(0),
             "text encoder: lengths must be i64 [", tokens.size(0), "], got ", lengths.defined() ? lengths.str() : "nothing");
}
}  // namespace

TextEncoder::TextEncoder(const TextEncoderConfig& c, uint64_t seed)
    : config((c.validate(), c)), norm(c.dim, c.layer_norm_eps), rng_(seed) {
  register_parameter("tok_embed.weight", &tok_embed, trunc_normal({c.vocab_size, c.dim}, 0.02f, rng_));
  register_parameter("pos_embed", &pos_embed, trunc_normal({1, c.max_len, c.dim}, 0.02f, rng_));
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks.push_back(std::make_unique<TransformerEncoderLayer>(layer_options(c, i), rng_));
    register_module("blocks." + std::to_string(i), blocks.back().get());
  }
  register_module("norm", &norm);
  // timm's init for the blocks' projections: truncated normal 0.02, zero biases.
  for (auto& [name, var] : named_parameters()) {
    if (name.rfind("blocks.", 0) != 0 || name.find("norm") != std::string::npos) continue;
    if (var->value().dim() == 2)
      var->value().copy_(trunc_normal(var->shape(), 0.02f, rng_));
    else
      var->value().fill_(0.f);
  }
}

Var TextEncoder::encode(const Tensor& tokens, const Tensor& lengths, AttentionRecorder* attention) {
  check_tokens(tokens, lengths, config);
  const int64_t t = tokens.size(1);
  Var h = add(embedding(tokens, tok_embed), slice(pos_embed, 1, 0, t));  // [B, T, D]
  if (training() && config.dropout > 0.f) h = dropout(h, config.dropout, true, next_seed());
  AttentionMasks masks;
  masks.key_lengths = lengths;
  masks.causal = causal_;
  for (auto& block : blocks) h = block->forward(h, masks, attention ? attention->next() : nullptr);
  return norm.forward(h);
}

TextClassifier::TextClassifier(const TextEncoderConfig& c, uint64_t seed)
    : TextEncoder(c, seed), head(c.dim, c.num_classes, true, init_rng()) {
  HEED_CHECK(c.num_classes > 0, "model.num_classes must be > 0, got ", c.num_classes);
  register_module("head", &head);
  head.weight.value().copy_(trunc_normal(head.weight.shape(), 0.02f, init_rng()));
  head.bias.value().fill_(0.f);
  // The token table is most of a small classifier's weights (8,000 x 128 of 1.45 M in the spam
  // config): heed quantize stores it in int8 too, weight-only (docs/compression.md), and the
  // position table with it (256 x 128: a tenth of what stays f32 otherwise). The language
  // models, whose output layer is the token table, keep both f32.
  register_int8_storage(&tok_embed);
  register_int8_storage(&pos_embed);
}

namespace {
// The masked-mean weights [B, 1, T]: 1 / length over the first `length` tokens, 0 after.
Tensor mean_weights(const Tensor& lengths, int64_t t) {
  const int64_t b = lengths.size(0);
  Tensor w = Tensor::zeros({b, 1, t});
  for (int64_t i = 0; i < b; ++i) {
    const int64_t n = std::min<int64_t>(std::max<int64_t>(lengths.i64()[i], 1), t);
    for (int64_t j = 0; j < n; ++j) w.f32()[i * t + j] = 1.f / float(n);
  }
  return w;
}
}  // namespace

namespace {
// A windowed batch (tokens [B, W, T], lengths [B, W], a missing window of length 0) as the
// windows' rows [B * W, T], their lengths (a missing window's counted as 1, so that it stays
// finite; its weight is 0) and each record's mean over its windows, weights [B, 1, W].
struct Windows {
  Tensor tokens, lengths, weights;
};
Windows flatten_windows(const Tensor& tokens, const Tensor& lengths) {
  const int64_t b = tokens.size(0), w = tokens.size(1), t = tokens.size(2);
  HEED_CHECK(b > 0 && w > 0, "text encoder: windowed tokens ", tokens.str(), " hold no window");
  HEED_CHECK(lengths.defined() && lengths.dtype() == DType::I64 && lengths.dim() == 2 && lengths.size(0) == b &&
                 lengths.size(1) == w,
             "text encoder: the lengths of windowed tokens must be i64 [", b, ", ", w, "], got ",
             lengths.defined() ? lengths.str() : "nothing");
  Windows out{tokens.contiguous().reshape({b * w, t}), Tensor::empty({b * w}, DType::I64), Tensor::zeros({b, 1, w})};
  for (int64_t i = 0; i < b; ++i) {
    int64_t present = 0;
    for (int64_t k = 0; k < w; ++k) present += lengths.i64()[i * w + k] > 0;
    for (int64_t k = 0; k < w; ++k) {
      const int64_t n = lengths.i64()[i * w + k];
      out.lengths.i64()[i * w + k] = std::max<int64_t>(n, 1);
      if (n > 0) out.weights.f32()[i * w + k] = 1.f / float(present);
    }
  }
  return out;
}
}  // namespace

ModelOutput TextClassifier::forward(const Batch& batch, const ForwardOptions& options) {
  ModelOutput out;
  Tensor tokens = batch.at("tokens"), lengths = batch.at("lengths");
  // Windows of long texts: every window encoded and pooled alone, then averaged per record.
  const bool windowed = tokens.defined() && tokens.dim() == 3;
  const int64_t b = tokens.defined() ? tokens.size(0) : 0, d = config.dim;
  Windows windows;
  if (windowed) {
    windows = flatten_windows(tokens, lengths);
    tokens = windows.tokens;
    lengths = windows.lengths;
  }
  auto recorder = attention_recorder(options);
  Var h = encode(tokens, lengths, recorder.get());
  if (recorder) out.attention = std::move(recorder->layers);
  const int64_t n = tokens.size(0), t = tokens.size(1);
  Var pooled = config.pooling == "cls" ? reshape(slice(h, 1, 0, 1), {n, d})
                                       : reshape(matmul(Var(mean_weights(lengths, t)), h), {n, d});
  if (windowed) pooled = reshape(matmul(Var(windows.weights), reshape(pooled, {b, n / b, d})), {b, d});
  out.logits = head.forward(pooled);
  return out;
}

std::unique_ptr<Model> TextClassifier::replicate(uint64_t seed) const {
  return std::make_unique<TextClassifier>(config, seed);
}


MaskedLanguageModel::MaskedLanguageModel(const TextEncoderConfig& c, uint64_t seed)
    : TextEncoder(c, seed), dense(c.dim, c.dim, true, init_rng()), mlm_norm(c.dim, c.layer_norm_eps) {
  register_module("mlm.dense", &dense);
  register_module("mlm.norm", &mlm_norm);
  register_parameter("mlm.bias", &mlm_bias, Tensor::zeros({c.vocab_size}));
  dense.weight.value().copy_(trunc_normal(dense.weight.shape(), 0.02f, init_rng()));
  dense.bias.value().fill_(0.f);
}

ModelOutput MaskedLanguageModel::forward(const Batch& batch, const ForwardOptions& options) {
  ModelOutput out;
  const Tensor& tokens = batch.at("tokens");
  auto recorder = attention_recorder(options);
  Var h = encode(tokens, batch.at("lengths"), recorder.get());
  if (recorder) out.attention = std::move(recorder->layers);
  const int64_t rows = tokens.numel(), d = config.dim;
  // Only the masked positions: [M, D] rows of the flattened hidden states (the gather's backward
  // adds into them), then the head and the tied decoder.
  Var picked = embedding(masked_positions(batch.at("mlm_labels")), reshape(h, {rows, d}));
  Var x = mlm_norm.forward(gelu(dense.forward(picked)));
  out.logits = linear(x, tok_embed, mlm_bias);  // [M, V]
  return out;
}

std::unique_ptr<Model> MaskedLanguageModel::replicate(uint64_t seed) const {
  return std::make_unique<MaskedLanguageModel>(config, seed);
}

CausalLanguageModel::CausalLanguageModel(const TextEncoderConfig& c, uint64_t seed) : TextEncoder(c, seed) {
  causal_ = true;
}

ModelOutput CausalLanguageModel::forward(const Batch& batch, const ForwardOptions& options) {
  ModelOutput out;
  const Tensor& tokens = batch.at("tokens");
  const Tensor& lengths = batch.at("lengths");
  auto recorder = attention_recorder(options);
  Var h = encode(tokens, lengths, recorder.get());
  if (recorder) out.attention = std::move(recorder->layers);
  const int64_t b = tokens.size(0), t = tokens.size(1), d = config.dim;
  Var rows = reshape(h, {b * t, d});
  if (!batch.has("targets")) {  // the next token after each row's last position
    out.logits = linear(embedding(last_positions(lengths, t), rows), tok_embed);  // [B, V]
    return out;
  }
  out.logits = embedding(masked_positions(batch.at("targets")), rows);  // [M, D]
  out.output_weight = tok_embed;
  return out;
}

std::unique_ptr<Model> CausalLanguageModel::replicate(uint64_t seed) const {
  return std::make_unique<CausalLanguageModel>(config, seed);
}

KvCache CausalLanguageModel::new_cache(int64_t batch, int64_t capacity) const {
  HEED_CHECK(capacity <= config.max_len, "a KV cache of ", capacity, " positions, more than model.max_len = ",
             config.max_len);
  return KvCache(batch, capacity, config.attention_widths());
}

Tensor CausalLanguageModel::decode(const Tensor& tokens, KvCache& cache) {
  HEED_CHECK(!training() && !grad_enabled(), "CausalLanguageModel::decode is for inference (eval mode, NoGradGuard)");
  HEED_CHECK(tokens.defined() && tokens.dtype() == DType::I64 && tokens.dim() == 2 && tokens.size(1) > 0,
             "decode: tokens must be i64 [B, Tn], got ", tokens.defined() ? tokens.str() : "nothing");
  HEED_CHECK(int64_t(cache.layers.size()) == config.depth && cache.layers[0].size(0) == tokens.size(0),
             "decode: the cache was made for another model or batch");
  const int64_t b = tokens.size(0), tn = tokens.size(1), past = cache.length, d = config.dim;
  HEED_CHECK(past + tn <= cache.capacity(), "decode: ", past, " cached and ", tn, " new positions exceed the cache's ",
             cache.capacity());
  for (int64_t i = 0; i < tokens.numel(); ++i)
    HEED_CHECK(tokens.i64()[i] >= 0 && tokens.i64()[i] < config.vocab_size, "decode: token id ", tokens.i64()[i],
               " outside 0..", config.vocab_size - 1);
  Var h = add(embedding(tokens, tok_embed), slice(pos_embed, 1, past, past + tn));  // [B, Tn, D]
  for (size_t i = 0; i < blocks.size(); ++i) h = blocks[i]->forward_cached(h, cache.layers[i], past);
  cache.length = past + tn;
  Var last = reshape(slice(norm.forward(h), 1, tn - 1, tn), {b, d});
  return linear(last, tok_embed).value();  // [B, V]
}

}  // namespace heed::nn
