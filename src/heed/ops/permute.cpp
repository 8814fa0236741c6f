// permute: reorders dimensions and materialises the result (kernels want contiguous buffers);
// the gradient is permuted back by the inverse permutation.
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var permute(const Var& x_var, const std::vector<int64_t>& dims) {
  Tensor x = detail::f32_input(x_var, "permute", "x");
  Tensor y = x.permute(dims).contiguous();
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i)
    inverse[size_t(normalize_dim(dims[i], x.dim(), "permute"))] = int64_t(i);
  return make_result(y, "permute", {&x_var}, [inverse](const Tensor& gy, std::span<Tensor* const> gx) {
    Tensor back = gy.permute(inverse).contiguous();
    kernels::add_inplace(gx[0]->f32(), back.f32(), back.numel());
  });
}

}  // namespace heed
