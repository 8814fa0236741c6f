// SGD with momentum, exactly as torch.optim.SGD with dampening = 0:
//   d <- g + weight_decay * p                   (coupled L2 decay, decay params only)
//   b <- momentum * b + d                       (first update of a parameter: b <- d)
//   d <- nesterov ? d + momentum * b : b
//   p <- p - lr * d
// The buffer starts at zero, which makes the first update b = d, PyTorch's clone, exactly.
//
// State kind: "momentum_buffer" (only when momentum > 0).
#pragma once

#include "heed/optim/optimizer.h"

namespace heed::optim {

struct SgdOptions {
  float lr = 1e-2f;
  float momentum = 0.9f;
  float weight_decay = 0.0f;  // applied only to params with weight_decay = true
  bool nesterov = false;
};

class Sgd : public Optimizer {
 public:
  // Errors name the bad field: lr >= 0, momentum in [0, 1), weight_decay >= 0, and nesterov
  // needs momentum > 0.
  explicit Sgd(std::vector<Param> params, const SgdOptions& options = {});

  void step() override;
  const SgdOptions& options() const { return options_; }

 private:
  void update(size_t i, const Tensor& grad);

  SgdOptions options_;
  int momentum_buffer_ = -1;  // state kind, -1 without momentum
};

}  // namespace heed::optim
