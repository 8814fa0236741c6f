// tanh: y = tanh(x); dx = dy (1 - y^2), so the backward keeps the output, not the input.
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var tanh(const Var& x_var) {
  Tensor x = detail::f32_input(x_var, "tanh", "x");
  Tensor y = Tensor::empty(x.shape());
  kernels::tanh_forward(x.f32(), y.f32(), x.numel());
  return make_result(y, "tanh", {&x_var}, [y](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::tanh_backward(y.f32(), gy.f32(), gx[0]->f32(), y.numel());
  });
}

}  // namespace heed
