// log_softmax over the last dimension; the backward needs only the output.
#include "heed/kernels/softmax.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var log_softmax(const Var& x_var) {
  Tensor x = detail::f32_input(x_var, "log_softmax", "x");
  HEED_CHECK(x.dim() >= 1, "log_softmax: needs rank >= 1, got ", x.str());
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  Tensor y = Tensor::empty(x.shape());
  kernels::log_softmax_forward(x.f32(), y.f32(), rows, cols);
  return make_result(y, "log_softmax", {&x_var}, [y, rows, cols](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::log_softmax_backward(y.f32(), gy.f32(), gx[0]->f32(), rows, cols);
  });
}

}  // namespace heed
