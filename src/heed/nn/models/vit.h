// Vision Transformer (Dosovitskiy et al.) with timm's parameter names, so a timm checkpoint
// maps 1:1: patch_embed.proj.{weight [D, C, p, p], bias}, cls_token [1, 1, D],
// pos_embed [1, N + 1, D], blocks.N.*, norm.*, head.*.
#pragma once

#include <memory>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "heed/nn/model.h"
#include "heed/nn/transformer.h"

namespace heed::nn {

struct VitConfig {
  int64_t image_height = 28, image_width = 28, channels = 1, num_classes = 10;
  int64_t patch_size = 4, dim = 64, depth = 6, heads = 4;
  std::vector<int64_t> layer_heads;  // after heed prune --out: heads kept per block (nn/transformer.h)
  double mlp_ratio = 2.0;
  float dropout = 0.f, attention_dropout = 0.f, drop_path = 0.f;
  bool pre_norm = true;
  float layer_norm_eps = 1e-6f;

  int64_t num_patches() const { return (image_height / patch_size) * (image_width / patch_size); }
  int64_t mlp_hidden() const { return static_cast<int64_t>(double(dim) * mlp_ratio); }
  // The model's parameters, from the config alone (before building it: memory checks).
  int64_t parameter_count() const;
  // Throws heed::Error naming the first impossible field (heads not dividing dim, patch not
  // dividing the image, non-positive sizes, probabilities outside [0, 1)).
  void validate() const;
};

class VisionTransformer : public Model {
 public:
  VisionTransformer(const VitConfig& config, uint64_t seed);
  // images [B, C, H, W] -> logits [B, classes]. With `attention`, each block's attention
  // (probabilities [B, H, T, T], T = patches + 1, token 0 = class token) is captured.
  Var forward(const Var& images, AttentionRecorder* attention = nullptr);

  // The trainer's interface: batch "images" -> logits.
  ModelOutput forward(const Batch& batch, const ForwardOptions& options = {}) override;
  std::unique_ptr<Model> replicate(uint64_t seed) const override;
  std::string type() const override { return "vit"; }

  VitConfig config;
  Var patch_weight, patch_bias, cls_token, pos_embed;
  std::vector<std::unique_ptr<TransformerEncoderLayer>> blocks;
  LayerNorm norm;
  Linear head;

 private:
  VisionTransformer(const VitConfig& config, Rng&& rng);
};

}  // namespace heed::nn
