// dropout: inverted dropout whose mask is regenerated from (seed, index) in the backward, so
// nothing but the seed is saved.
#include "heed/kernels/gather.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var dropout(const Var& x_var, float p, bool training, uint64_t seed) {
  HEED_CHECK(p >= 0.f && p <= 1.f, "dropout: probability must be in [0, 1], got ", p);
  if (!training || p == 0.f) return x_var;
  Tensor x = detail::f32_input(x_var, "dropout", "x");
  if (p == 1.f)  // everything dropped; the gradient is zero
    return make_result(Tensor::zeros(x.shape()), "dropout", {&x_var},
                       [](const Tensor&, std::span<Tensor* const>) {});
  Tensor y = Tensor::empty(x.shape());
  kernels::dropout_forward(x.f32(), y.f32(), x.numel(), p, seed);
  return make_result(y, "dropout", {&x_var}, [p, seed](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::dropout_backward(gy.f32(), gx[0]->f32(), gy.numel(), p, seed);
  });
}

}  // namespace heed
