#include "heed/optim/adamw.h"

#include <cmath>

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

// The per-step scalars, rounded to float where PyTorch rounds them (its Python-float scalars
// become float when applied to a float tensor).
struct Coefficients {
  float decay;  // 1 - lr * weight_decay
  float beta1;
  float one_minus_beta1;
  float beta2;
  float one_minus_beta2;
  float bias_correction2_sqrt;
  float eps;
  float neg_step_size;  // -lr / (1 - beta1^t)
};

// torch's operations in its order and rounding: mul_, add_(alpha=) (fused), addcmul_ (fused),
// sqrt, div, add_, mul_, addcdiv_, so results agree to the bit on FMA machines. Element-wise
// only: any thread count gives the same bits.
void adamw_kernel(float* p, const float* g, float* m, float* v, int64_t n, const Coefficients& c) {
  using detail::fused_add;
#pragma omp parallel for simd schedule(static) if (n > detail::kParallelGrain)
  for (int64_t i = 0; i < n; ++i) {
    const float decayed = p[i] * c.decay;
    const float mi = fused_add(m[i] * c.beta1, c.one_minus_beta1, g[i]);
    const float vi = fused_add(v[i] * c.beta2, c.one_minus_beta2 * g[i], g[i]);
    m[i] = mi;
    v[i] = vi;
    const float denom = std::sqrt(vi) / c.bias_correction2_sqrt + c.eps;
    p[i] = decayed + c.neg_step_size * mi / denom;
  }
}

}  // namespace

AdamW::AdamW(std::vector<Param> params, const AdamWOptions& options)
    : Optimizer(std::move(params), options.lr, "AdamW"), options_(options) {
  check_options(options_);
  exp_avg_ = add_state("exp_avg");
  exp_avg_sq_ = add_state("exp_avg_sq");
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
  const Coefficients c{
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
  adamw_kernel(value.f32(), grad.f32(), state_tensor(exp_avg_, i).f32(),
               state_tensor(exp_avg_sq_, i).f32(), value.numel(), c);
}

}  // namespace heed::optim
