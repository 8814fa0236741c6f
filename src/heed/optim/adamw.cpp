#include "heed/optim/adamw.h"

#include <cmath>

#include "heed/kernels/optimizer_update.h"

namespace heed::optim {

namespace {

void check_options(const AdamWOptions& o) {
  HEED_CHECK(o.beta1 >= 0.0 && o.beta1 < 1.0, "AdamW: beta1 must be in [0, 1), got ", o.beta1);
  HEED_CHECK(o.beta2 >= 0.0 && o.beta2 < 1.0, "AdamW: beta2 must be in [0, 1), got ", o.beta2);
  // eps = 0 would turn a parameter whose gradient is always 0 into 0/0 = NaN.
  HEED_CHECK(std::isfinite(o.eps) && o.eps > 0.0, "AdamW: eps must be finite and > 0, got ", o.eps);
  HEED_CHECK(std::isfinite(o.weight_decay) && o.weight_decay >= 0.0,
             "AdamW: weight_decay must be finite and >= 0, got ", o.weight_decay);
}

}  // namespace

AdamW::AdamW(std::vector<Param> params, const AdamWOptions& options)
    : Optimizer(std::move(params), options.lr, "AdamW"), options_(options) {
  check_options(options_);
  exp_avg_ = add_state("exp_avg");
  exp_avg_sq_ = add_state("exp_avg_sq", /*counter=*/false, /*non_negative=*/true);
  steps_ = add_state("step", /*counter=*/true);
}

void AdamW::step() {
  count_step();
  for (size_t i = 0; i < params().size(); ++i)
    if (const Tensor* grad = grad_of(i)) update(i, *grad);
}

void AdamW::update(size_t i, const Tensor& grad) {
  const Param& param = params()[i];
  int64_t& t = *state_tensor(steps_, i).i64();
  ++t;
  const double lr = this->lr();
  const double wd = param.weight_decay ? options_.weight_decay : 0.0;
  const double bias_correction1 = 1.0 - std::pow(options_.beta1, double(t));
  const double bias_correction2 = 1.0 - std::pow(options_.beta2, double(t));
  const kernels::AdamWCoefficients c{
      .decay = float(1.0 - lr * wd),
      .beta1 = float(options_.beta1),
      .one_minus_beta1 = float(1.0 - options_.beta1),
      .beta2 = float(options_.beta2),
      .one_minus_beta2 = float(1.0 - options_.beta2),
      .bias_correction2_sqrt = float(std::sqrt(bias_correction2)),
      .eps = float(options_.eps),
      .neg_step_size = float(-lr / bias_correction1),
  };
  Tensor& value = param.var->value();
  kernels::adamw_update(value.f32(), grad.f32(), state_tensor(exp_avg_, i).f32(),
               state_tensor(exp_avg_sq_, i).f32(), value.numel(), c);
}

}  // namespace heed::optim
