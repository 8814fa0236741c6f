// scale: y = s * x; dx = s * dy.
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var scale(const Var& x_var, float factor) {
  Tensor x = detail::f32_input(x_var, "scale", "x");
  Tensor y = Tensor::empty(x.shape());
  kernels::scale(x.f32(), factor, y.f32(), x.numel());
  return make_result(y, "scale", {&x_var}, [factor](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::axpy(factor, gy.f32(), gx[0]->f32(), gy.numel());
  });
}

}  // namespace heed
