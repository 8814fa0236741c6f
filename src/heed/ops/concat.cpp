// concat: joins tensors along one dimension; each input's gradient is its slice of dy.
#include <cstring>

#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var concat(const std::vector<Var>& parts, int64_t dim) {
  HEED_CHECK(!parts.empty(), "concat: needs at least one tensor");
  std::vector<Tensor> xs;
  for (const Var& p : parts) xs.push_back(detail::f32_input(p, "concat", "part"));
  const int d = normalize_dim(dim, xs[0].dim(), "concat");
  Shape out_shape = xs[0].shape();
  out_shape[d] = 0;
  for (const Tensor& x : xs) {
    Shape a = x.shape(), b = xs[0].shape();
    HEED_CHECK(a.size() == b.size(), "concat: ", x.str(), " and ", xs[0].str(), " differ in rank");
    a[d] = b[d] = 0;
    HEED_CHECK(a == b, "concat: ", x.str(), " and ", xs[0].str(),
               " differ outside the concatenation dimension ", d);
    out_shape[d] += x.size(d);
  }
  // View every tensor as [outer, size(d) * inner] and copy row blocks side by side.
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= out_shape[i];
  for (size_t i = size_t(d) + 1; i < out_shape.size(); ++i) inner *= out_shape[i];
  std::vector<int64_t> widths, offsets;
  int64_t total = 0;
  for (const Tensor& x : xs) {
    offsets.push_back(total);
    widths.push_back(x.size(d) * inner);
    total += widths.back();
  }
  Tensor y = Tensor::empty(out_shape);
  for (size_t p = 0; p < xs.size(); ++p)
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(y.f32() + o * total + offsets[p], xs[p].f32() + o * widths[p],
                  size_t(widths[p]) * sizeof(float));
  std::vector<const Var*> inputs;
  for (const Var& p : parts) inputs.push_back(&p);
  return make_result(y, "concat", inputs,
                     [outer, total, widths, offsets](const Tensor& gy, std::span<Tensor* const> gx) {
    for (size_t p = 0; p < gx.size(); ++p) {
      if (!gx[p]) continue;
      float* dx = gx[p]->f32();
      for (int64_t o = 0; o < outer; ++o) {
        const float* g = gy.f32() + o * total + offsets[p];
        for (int64_t j = 0; j < widths[p]; ++j) dx[o * widths[p] + j] += g[j];
      }
    }
  });
}

}  // namespace heed
