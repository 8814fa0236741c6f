// reshape: same elements, new shape; the gradient is reshaped back.
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var reshape(const Var& x_var, const Shape& shape) {
  Tensor x = detail::f32_input(x_var, "reshape", "x");
  Tensor y = x.view(shape);  // shares storage with x (contiguous)
  return make_result(y, "reshape", {&x_var}, [](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::add_inplace(gx[0]->f32(), gy.f32(), gy.numel());
  });
}

}  // namespace heed
