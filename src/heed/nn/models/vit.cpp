#include "heed/nn/models/vit.h"

#include <cmath>

#include "heed/ops/ops.h"

namespace heed::nn {

void VitConfig::validate() const {
  auto positive = [](int64_t v, const char* key) {
    HEED_CHECK(v > 0, "model.", key, " must be > 0, got ", v);
  };
  positive(image_height, "image_height");
  positive(image_width, "image_width");
  positive(channels, "channels");
  positive(num_classes, "num_classes");
  positive(patch_size, "patch_size");
  positive(dim, "dim");
  positive(depth, "depth");
  positive(heads, "heads");
  HEED_CHECK(image_height % patch_size == 0 && image_width % patch_size == 0,
             "model.patch_size: ", patch_size, " does not divide the image size ", image_height, "x",
             image_width);
  HEED_CHECK(dim % heads == 0, "model.heads: ", heads, " heads do not divide model.dim = ", dim);
  check_layer_heads(layer_heads, depth, heads);
  HEED_CHECK(mlp_ratio > 0, "model.mlp_ratio must be > 0, got ", mlp_ratio);
  for (auto [p, key] : {std::pair{dropout, "dropout"}, {attention_dropout, "attention_dropout"},
                        {drop_path, "drop_path"}})
    HEED_CHECK(p >= 0.f && p < 1.f, "model.", key, " must be in [0, 1), got ", p);
  HEED_CHECK(layer_norm_eps > 0.f, "model.layer_norm_eps must be > 0, got ", layer_norm_eps);
}

namespace {
// Biases of the blocks' linear layers (not of their LayerNorms).
bool projection_bias(const std::string& name) {
  const std::string suffix = ".bias";
  return name.rfind("blocks.", 0) == 0 && name.find("norm") == std::string::npos &&
         name.size() > suffix.size() &&
         name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}
}  // namespace

int64_t VitConfig::parameter_count() const {
  const double d = double(dim);
  const double embed = d * double(channels * patch_size * patch_size) + d + d + double(num_patches() + 1) * d;
  const double total = embed + double(encoder_parameters(dim, depth, mlp_hidden())) + 2 * d +
                       d * double(num_classes) + double(num_classes);
  return total > 9e18 ? int64_t{9000000000000000000} : int64_t(total);
}

VisionTransformer::VisionTransformer(const VitConfig& c, uint64_t seed)
    : VisionTransformer(c, Rng(seed)) {}

VisionTransformer::VisionTransformer(const VitConfig& c, Rng&& rng)
    : config((c.validate(), c)),
      norm(c.dim, c.layer_norm_eps),
      head(c.dim, c.num_classes, true, rng) {
  const int64_t d = c.dim, p = c.patch_size;
  // timm's init: truncated normal (std 0.02) for projections and position embedding, zero
  // biases, class token N(0, 1e-6); the patch projection keeps PyTorch's conv default.
  const float patch_bound = 1.0f / std::sqrt(float(c.channels * p * p));
  register_parameter("patch_embed.proj.weight", &patch_weight,
                     Tensor::uniform({d, c.channels, p, p}, rng, -patch_bound, patch_bound));
  register_parameter("patch_embed.proj.bias", &patch_bias,
                     Tensor::uniform({d}, rng, -patch_bound, patch_bound));
  register_parameter("cls_token", &cls_token, Tensor::randn({1, 1, d}, rng, 1e-6f));
  register_parameter("pos_embed", &pos_embed, trunc_normal({1, c.num_patches() + 1, d}, 0.02f, rng));
  EncoderLayerOptions layer;
  layer.dim = d;
  layer.heads = c.heads;
  layer.mlp_hidden = c.mlp_hidden();
  layer.dropout = c.dropout;
  layer.attention_dropout = c.attention_dropout;
  layer.pre_norm = c.pre_norm;
  layer.layer_norm_eps = c.layer_norm_eps;
  for (int64_t i = 0; i < c.depth; ++i) {
    layer.heads = layer_head_count(c.layer_heads, c.heads, i);
    layer.head_dim = d / c.heads;
    // Stochastic depth rises linearly with depth (timm's dpr schedule).
    layer.drop_path = c.depth > 1 ? c.drop_path * float(i) / float(c.depth - 1) : c.drop_path;
    blocks.push_back(std::make_unique<TransformerEncoderLayer>(layer, rng));
    register_module("blocks." + std::to_string(i), blocks.back().get());
  }
  register_module("norm", &norm);
  register_module("head", &head);
  for (auto& [name, var] : named_parameters()) {
    const bool projection = name.rfind("blocks.", 0) == 0 && var->value().dim() == 2;
    if (projection || name == "head.weight")
      var->value().copy_(trunc_normal(var->shape(), 0.02f, rng));
    if (projection_bias(name))
      var->value().fill_(0.f);
  }
  head.bias.value().fill_(0.f);
}

Var VisionTransformer::forward(const Var& images, AttentionRecorder* attention) {
  const Tensor& x = images.value();
  HEED_CHECK(x.dim() == 4 && x.size(1) == config.channels && x.size(2) == config.image_height &&
                 x.size(3) == config.image_width,
             "VisionTransformer: images ", x.str(), " must be [B, ", config.channels, ", ",
             config.image_height, ", ", config.image_width, "]");
  const int64_t b = x.size(0), d = config.dim, p = config.patch_size;
  // Patch embedding: a Linear over patch vectors == timm's stride-p convolution.
  Var w = reshape(patch_weight, {d, config.channels * p * p});
  Var tokens = linear(patchify(images, p), w, patch_bias);  // [B, N, D]
  Var cls = add(Var(Tensor::zeros({b, 1, d})), cls_token);  // [B, 1, D]
  Var h = add(concat({cls, tokens}, 1), pos_embed);         // [B, N + 1, D]
  if (training() && config.dropout > 0.f) h = dropout(h, config.dropout, true, next_seed());
  for (auto& block : blocks) h = block->forward(h, {}, attention ? attention->next() : nullptr);
  h = norm.forward(h);
  Var cls_out = reshape(slice(h, 1, 0, 1), {b, d});  // [B, D]
  return head.forward(cls_out);
}

ModelOutput VisionTransformer::forward(const Batch& batch, const ForwardOptions& options) {
  ModelOutput out;
  auto recorder = attention_recorder(options);
  out.logits = forward(Var(batch.at("images")), recorder.get());
  if (recorder) out.attention = std::move(recorder->layers);
  return out;
}

std::unique_ptr<Model> VisionTransformer::replicate(uint64_t seed) const {
  return std::make_unique<VisionTransformer>(config, seed);
}

}  // namespace heed::nn
