#include "heed/nn/layers.h"

#include <cmath>

#include "heed/ops/ops.h"

namespace heed::nn {

Linear::Linear(int64_t in, int64_t out, bool with_bias, Rng& rng) : in_features(in), out_features(out) {
  HEED_CHECK(in > 0 && out > 0, "Linear: sizes must be > 0, got in=", in, " out=", out);
  const float bound = 1.0f / std::sqrt(float(in));
  register_parameter("weight", &weight, Tensor::uniform({out, in}, rng, -bound, bound));
  if (with_bias) register_parameter("bias", &bias, Tensor::uniform({out}, rng, -bound, bound));
  register_reduced(&weight, &weight_int8, &weight_bf16);
}

Var Linear::forward(const Var& x) {
  if (weight_int8 && !grad_enabled()) return linear_int8(x, *weight_int8, bias);
  if (weight_bf16 && !grad_enabled()) return linear_bf16(x, *weight_bf16, bias);
  return linear(x, weight, bias);
}

LayerNorm::LayerNorm(int64_t dim, float eps_) : eps(eps_) {
  register_parameter("weight", &weight, Tensor::full({dim}, 1.f));
  register_parameter("bias", &bias, Tensor::zeros({dim}));
}

Var LayerNorm::forward(const Var& x) { return layer_norm(x, weight, bias, eps); }

FeedForward::FeedForward(int64_t dim, int64_t hidden, float dropout_, Rng& rng, const char* fc1_name,
                         const char* fc2_name)
    : fc1(dim, hidden, true, rng), fc2(hidden, dim, true, rng), dropout(dropout_) {
  register_module(fc1_name, &fc1);
  register_module(fc2_name, &fc2);
}

Var FeedForward::forward(const Var& x) {
  const bool drop = training() && dropout > 0.f;
  Var h = gelu(fc1.forward(x));
  if (drop) h = heed::dropout(h, dropout, true, next_seed());
  Var y = fc2.forward(h);
  return drop ? heed::dropout(y, dropout, true, next_seed()) : y;
}

}  // namespace heed::nn
