// Basic layers: Linear, LayerNorm, FeedForward (timm's Mlp). Parameter names follow PyTorch.
#pragma once

#include "heed/core/rng.h"
#include "heed/nn/module.h"

namespace heed::nn {

class Linear : public Module {
 public:
  // PyTorch's default init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias.
  Linear(int64_t in, int64_t out, bool bias, Rng& rng);
  // [..., in] -> [..., out]; in int8 (or bf16) when converted and no gradient is being recorded.
  Var forward(const Var& x);
  Var weight, bias;  // [out, in], [out]
  std::shared_ptr<const Int8Matrix> weight_int8;  // Module::quantize_int8 fills it
  std::shared_ptr<const Bf16Matrix> weight_bf16;  // Module::convert_bf16 fills it
  int64_t in_features, out_features;
};

class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, float eps = 1e-5f);
  Var forward(const Var& x);
  Var weight, bias;
  float eps;
};

// fc1 -> GELU -> dropout -> fc2 -> dropout, named like timm's Mlp (or, with other names, like
// nn.TransformerEncoderLayer's linear1 and linear2).
class FeedForward : public Module {
 public:
  FeedForward(int64_t dim, int64_t hidden, float dropout, Rng& rng, const char* fc1_name = "fc1",
              const char* fc2_name = "fc2");
  Var forward(const Var& x);
  Linear fc1, fc2;
  float dropout;
};

}  // namespace heed::nn
