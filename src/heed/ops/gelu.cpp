// gelu (exact erf form): y = x Phi(x); dx = dy (Phi(x) + x phi(x)).
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var gelu(const Var& x_var) {
  Tensor x = detail::f32_input(x_var, "gelu", "x");
  Tensor y = Tensor::empty(x.shape());
  kernels::gelu_forward(x.f32(), y.f32(), x.numel());
  return make_result(
      y, "gelu", {&x_var},
      [x](const Tensor& gy, std::span<Tensor* const> gx) {
        const bool accumulate = detail::prepare_gradient(gx[0], x.shape()) != 0.f;
        kernels::gelu_backward(x.f32(), gy.f32(), gx[0]->f32(), x.numel(), accumulate);
      },
      FreshGrad::kUndefined);
}

}  // namespace heed
