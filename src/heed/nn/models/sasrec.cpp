#include "heed/nn/models/sasrec.h"

#include <algorithm>
#include <cmath>

#include "heed/ops/ops.h"

namespace heed::nn {

void SasRecConfig::validate() const {
  auto positive = [](int64_t v, const char* key) { HEED_CHECK(v > 0, "model.", key, " must be > 0, got ", v); };
  positive(items, "items");
  positive(max_len, "max_len");
  positive(dim, "dim");
  positive(depth, "depth");
  positive(heads, "heads");
  HEED_CHECK(dim % heads == 0, "model.heads: ", heads, " heads do not divide model.dim = ", dim);
  HEED_CHECK(mlp_ratio > 0, "model.mlp_ratio must be > 0, got ", mlp_ratio);
  for (auto [p, key] : {std::pair{dropout, "dropout"}, {attention_dropout, "attention_dropout"}})
    HEED_CHECK(p >= 0.f && p < 1.f, "model.", key, " must be in [0, 1), got ", p);
  HEED_CHECK(layer_norm_eps > 0.f, "model.layer_norm_eps must be > 0, got ", layer_norm_eps);
  HEED_CHECK(loss == "ce" || loss == "bce", "model.loss must be \"ce\" or \"bce\", got \"", loss, "\"");
  HEED_CHECK(positions == "start" || positions == "end", "model.positions must be \"start\" or \"end\", got \"",
             positions, "\"");
}

int64_t SasRecConfig::parameter_count() const {
  const double d = double(dim);
  const double total = double(items + 1) * d + double(max_len) * d +
                       double(encoder_parameters(dim, depth, mlp_hidden())) + 2 * d;
  return total > 9e18 ? int64_t{9000000000000000000} : int64_t(total);
}

namespace {
EncoderLayerOptions layer_options(const SasRecConfig& c) {
  EncoderLayerOptions layer;
  layer.dim = c.dim;
  layer.heads = c.heads;
  layer.mlp_hidden = c.mlp_hidden();
  layer.dropout = c.dropout;
  layer.attention_dropout = c.attention_dropout;
  layer.layer_norm_eps = c.layer_norm_eps;
  return layer;
}

void check_items(const Tensor& items, const Tensor& lengths, const SasRecConfig& c) {
  HEED_CHECK(items.defined() && items.dtype() == DType::I64 && items.dim() == 2,
             "sasrec: items must be i64 [B, T], got ", items.defined() ? items.str() : "nothing");
  HEED_CHECK(items.size(1) <= c.max_len, "sasrec: ", items.size(1), " positions, more than model.max_len = ",
             c.max_len);
  HEED_CHECK(lengths.defined() && lengths.dtype() == DType::I64 && lengths.dim() == 1 &&
                 lengths.size(0) == items.size(0),
             "sasrec: lengths must be i64 [", items.size(0), "], got ", lengths.defined() ? lengths.str() : "nothing");
  for (int64_t i = 0; i < items.numel(); ++i)
    HEED_CHECK(items.i64()[i] >= 0 && items.i64()[i] <= c.items, "sasrec: item id ", items.i64()[i],
               " outside 0..", c.items);
}
}  // namespace

SasRec::SasRec(const SasRecConfig& c, uint64_t seed) : config((c.validate(), c)), norm(c.dim, c.layer_norm_eps) {
  Rng rng(seed);
  Tensor items = trunc_normal({c.items + 1, c.dim}, 0.02f, rng);
  std::fill(items.f32(), items.f32() + c.dim, 0.f);  // the padding row (PyTorch's padding_idx=0 starts at 0)
  register_parameter("item_embed.weight", &item_embed, items);
  register_parameter("pos_embed", &pos_embed, trunc_normal({1, c.max_len, c.dim}, 0.02f, rng));
  for (int64_t i = 0; i < c.depth; ++i) {
    blocks.push_back(std::make_unique<TransformerEncoderLayer>(layer_options(c), rng));
    register_module("blocks." + std::to_string(i), blocks.back().get());
  }
  register_module("norm", &norm);
  for (auto& [name, var] : named_parameters()) {
    if (name.rfind("blocks.", 0) != 0 || name.find("norm") != std::string::npos) continue;
    if (var->value().dim() == 2)
      var->value().copy_(trunc_normal(var->shape(), 0.02f, rng));
    else
      var->value().fill_(0.f);
  }
}

Var SasRec::encode(const Tensor& items, const Tensor& lengths, AttentionRecorder* attention) {
  check_items(items, lengths, config);
  const int64_t t = items.size(1);
  Var items_h = scale(embedding(items, item_embed), std::sqrt(float(config.dim)));
  Var h = config.positions == "start" ? add(items_h, slice(pos_embed, 1, 0, t))
                                      : add(items_h, embedding(positions_from_end(lengths, t),
                                                               reshape(pos_embed, {config.max_len, config.dim})));
  if (training() && config.dropout > 0.f) h = dropout(h, config.dropout, true, next_seed());
  AttentionMasks masks;
  masks.key_lengths = lengths;
  masks.causal = true;
  for (auto& block : blocks) h = block->forward(h, masks, attention ? attention->next() : nullptr);
  return norm.forward(h);
}

Tensor positions_from_end(const Tensor& lengths, int64_t t) {
  const int64_t b = lengths.size(0);
  std::vector<int64_t> out(static_cast<size_t>(b * t), 0);
  for (int64_t r = 0; r < b; ++r) {
    const int64_t length = std::min(lengths.i64()[r], t);
    for (int64_t p = 0; p < length; ++p) out[size_t(r * t + p)] = length - 1 - p;
  }
  return Tensor::from_indices({b, t}, out);
}

Tensor nonzero_positions(const Tensor& ids) {
  std::vector<int64_t> positions;
  for (int64_t i = 0; i < ids.numel(); ++i)
    if (ids.i64()[i] != 0) positions.push_back(i);
  return Tensor::from_indices({int64_t(positions.size())}, positions);
}

Tensor take(const Tensor& ids, const Tensor& positions) {
  std::vector<int64_t> out(size_t(positions.numel()));
  for (int64_t i = 0; i < positions.numel(); ++i) out[size_t(i)] = ids.i64()[positions.i64()[i]];
  return Tensor::from_indices({positions.numel()}, out);
}

ModelOutput SasRec::forward(const Batch& batch, const ForwardOptions& options) {
  ModelOutput out;
  const Tensor& items = batch.at("items");
  const Tensor& lengths = batch.at("lengths");
  auto recorder = attention_recorder(options);
  Var h = encode(items, lengths, recorder.get());
  if (recorder) out.attention = std::move(recorder->layers);
  const int64_t b = items.size(0), t = items.size(1), d = config.dim;
  Var rows = reshape(h, {b * t, d});
  if (!batch.has("next_items")) {  // scores at each row's last position
    out.logits = linear(embedding(last_positions(lengths, t), rows), item_embed);  // [B, items + 1]
    return out;
  }
  const Tensor next = batch.at("next_items");
  const Tensor positions = nonzero_positions(next);
  Var picked = embedding(positions, rows);  // [M, D]
  if (config.loss == "ce") {  // logits [M, items + 1], left to the loss to make in chunks
    out.logits = picked;
    out.output_weight = item_embed;
    return out;
  }
  Var positive = sum(mul(picked, embedding(take(next, positions), item_embed)), 1, true);
  Var negative = sum(mul(picked, embedding(take(batch.at("negatives"), positions), item_embed)), 1, true);
  out.logits = concat({positive, negative}, 1);  // [M, 2]
  return out;
}

std::unique_ptr<Model> SasRec::replicate(uint64_t seed) const { return std::make_unique<SasRec>(config, seed); }

}  // namespace heed::nn
