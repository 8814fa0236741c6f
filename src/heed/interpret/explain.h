// One explanation: a model's prediction for one input with its attention captured on the fused
// kernel (ops/attention.h's AttentionCapture: the forward is the one `predict` runs) and the
// gradient of the explained class's logit with respect to every layer's probabilities.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/nn/model.h"

namespace heed::interpret {

struct ExplainOptions {
  int64_t cls = -1;    // the class to explain; < 0: the predicted one
  int64_t layer = -1;  // the raw-attention method's layer; < 0: the last
  int64_t head = -1;   // and head; < 0: the mean over heads
  bool gradients = true;  // false: no backward, so no gradient_rollout (attention and rollout only)
};

struct Explanation {
  int64_t predicted = 0;              // the class of the largest logit
  int64_t explained = 0;              // the class the gradients are of (--class, else predicted)
  std::vector<float> probabilities;   // softmax over the classes
  std::vector<Tensor> attention;      // per layer [H, T, T]
  std::vector<Tensor> gradients;      // per layer [H, T, T]: d logit[explained] / d attention
  // [T, T] relevance by method: raw attention (a layer's head or head mean), rollout,
  // gradient-weighted rollout.
  Tensor raw, rollout, gradient_rollout;
};

// Explains row 0 of a one-sample `batch`. The model is put in evaluation mode; its parameters'
// gradients are left zero. A class, layer or head out of range is an error naming the range.
Explanation explain(nn::Model& model, const nn::Batch& batch, const ExplainOptions& options = {});

// The methods by name, in the order files and pages list them.
inline constexpr const char* kMethods[] = {"attention", "rollout", "gradient_rollout"};
const Tensor& relevance_of(const Explanation& e, const std::string& method);

}  // namespace heed::interpret
