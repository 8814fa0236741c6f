// slice: the range [start, end) along one dimension; the gradient lands in that range.
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var slice(const Var& x_var, int64_t dim, int64_t start, int64_t end) {
  Tensor x = detail::f32_input(x_var, "slice", "x");
  const int d = normalize_dim(dim, x.dim(), "slice");
  HEED_CHECK(0 <= start && start <= end && end <= x.size(d), "slice: range [", start, ", ", end,
             ") is outside dimension ", d, " of ", x.str());
  Tensor y = x.slice(d, start, end).contiguous();
  return make_result(y, "slice", {&x_var}, [d, start, end](const Tensor& gy, std::span<Tensor* const> gx) {
    Tensor window = gx[0]->slice(d, start, end);
    // add gy into the strided window: materialise window + gy, then copy back
    Tensor sum = window.contiguous().clone();
    float* s = sum.f32();
    const float* g = gy.f32();
    for (int64_t i = 0; i < sum.numel(); ++i) s[i] += g[i];
    window.copy_(sum);
  });
}

}  // namespace heed
