// relu: y = max(x, 0); dx = dy where x > 0.
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var relu(const Var& x_var) {
  Tensor x = detail::f32_input(x_var, "relu", "x");
  Tensor y = Tensor::empty(x.shape());
  kernels::relu_forward(x.f32(), y.f32(), x.numel());
  return make_result(y, "relu", {&x_var}, [x](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::relu_backward(x.f32(), gy.f32(), gx[0]->f32(), x.numel());
  });
}

}  // namespace heed
