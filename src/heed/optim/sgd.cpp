#include "heed/optim/sgd.h"

#include <cmath>

#include "heed/kernels/optimizer_update.h"

namespace heed::optim {

namespace {

void check_options(const SgdOptions& o) {
  HEED_CHECK(std::isfinite(o.momentum) && o.momentum >= 0.0f && o.momentum < 1.0f,
             "SGD: momentum must be in [0, 1), got ", o.momentum);
  HEED_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0f,
             "SGD: weight_decay must be finite and >= 0, got ", o.weight_decay);
  HEED_CHECK(!o.nesterov || o.momentum > 0.0f, "SGD: nesterov needs momentum > 0, got momentum ",
             o.momentum);
}

}  // namespace

Sgd::Sgd(std::vector<Param> params, const SgdOptions& options)
    : Optimizer(std::move(params), options.lr, "SGD"), options_(options) {
  check_options(options_);
  if (options_.momentum > 0.0f) momentum_buffer_ = add_state("momentum_buffer");
}

void Sgd::step() {
  count_step();
  for (size_t i = 0; i < params().size(); ++i)
    if (const Tensor* grad = grad_of(i)) update(i, *grad);
}

void Sgd::update(size_t i, const Tensor& grad) {
  const Param& param = params()[i];
  Tensor& value = param.var->value();
  float* p = value.f32();
  const float wd = param.weight_decay ? options_.weight_decay : 0.0f;
  const float neg_lr = -lr();
  if (momentum_buffer_ < 0) {
    kernels::sgd_update(p, grad.f32(), value.numel(), wd, neg_lr);
    return;
  }
  float* buf = state_tensor(momentum_buffer_, i).f32();
  kernels::sgd_momentum_update(p, grad.f32(), buf, value.numel(), wd, options_.momentum, neg_lr,
                               options_.nesterov);
}

}  // namespace heed::optim
