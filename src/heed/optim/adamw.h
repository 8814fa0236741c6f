// AdamW (Loshchilov & Hutter), exactly as torch.optim.AdamW (amsgrad=False):
//   p <- p * (1 - lr * weight_decay)            decoupled weight decay, decay params only
//   m <- beta1 * m + (1 - beta1) * g
//   v <- beta2 * v + (1 - beta2) * g^2
//   p <- p - lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
// where t counts the updates this parameter has received (PyTorch's per-parameter state['step']):
// a parameter skipped for lack of a gradient keeps its own bias correction.
//
// State kinds: "exp_avg" (m), "exp_avg_sq" (v), "step" (0-d i64 per parameter).
#pragma once

#include "heed/optim/optimizer.h"

namespace heed::optim {

struct AdamWOptions {
  float lr = 1e-3f;
  // The rest are double, like PyTorch's Python floats: the bias corrections 1 - beta^t are
  // formed in double, and float(0.999) is 1.3e-8 off, which 1 - beta2 turns into a 1.3e-5
  // relative error in the step size.
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;  // applied only to params with weight_decay = true
};

class AdamW : public Optimizer {
 public:
  // Errors name the bad field: lr >= 0, beta1 and beta2 in [0, 1), eps > 0, weight_decay >= 0.
  explicit AdamW(std::vector<Param> params, const AdamWOptions& options = {});

  void step() override;
  const AdamWOptions& options() const { return options_; }

 private:
  void update(size_t i, const Tensor& grad);

  AdamWOptions options_;
  int exp_avg_, exp_avg_sq_, steps_;  // state kinds
};

}  // namespace heed::optim
