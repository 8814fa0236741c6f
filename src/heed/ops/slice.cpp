// slice: the range [start, end) along one dimension; the gradient lands in that range.
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var slice(const Var& x_var, int64_t dim, int64_t start, int64_t end) {
  Tensor x = detail::f32_input(x_var, "slice", "x");
  const int d = normalize_dim(dim, x.dim(), "slice");
  HEED_CHECK(0 <= start && start <= end && end <= x.size(d), "slice: range [", start, ", ", end,
             ") is outside dimension ", d, " of ", x.str());
  Tensor y = x.slice(d, start, end).contiguous();
  // View x as [outer, size(d) * inner]; the slice is the column block [start, end) * inner.
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= x.size(i);
  for (int64_t i = d + 1; i < x.dim(); ++i) inner *= x.size(i);
  const int64_t row = x.size(d) * inner, offset = start * inner, width = (end - start) * inner;
  return make_result(y, "slice", {&x_var},
                     [outer, row, offset, width](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::add_into_columns(gy.f32(), outer, width, gx[0]->f32(), row, offset);
  });
}

}  // namespace heed
