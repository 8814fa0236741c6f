// sum and mean, over everything or along one dimension. mean is sum scaled by 1/count, so both
// share one implementation: view x as [outer, reduced, inner] and reduce the middle.
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

namespace {
Var reduce(const Var& x_var, int64_t outer, int64_t reduced, int64_t inner, Shape out_shape,
           bool average, const char* op) {
  Tensor x = detail::f32_input(x_var, op, "x");
  const float factor = average ? 1.0f / float(reduced) : 1.0f;
  Tensor y = Tensor::empty(out_shape);
  const float* xp = x.f32();
  float* yp = y.f32();
#pragma omp parallel for schedule(static) if (x.numel() > (1 << 16) && outer > 1)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double acc = 0.0;  // double: a long sum of floats would lose precision
      for (int64_t r = 0; r < reduced; ++r) acc += xp[(o * reduced + r) * inner + i];
      yp[o * inner + i] = static_cast<float>(acc * factor);
    }
  return make_result(y, op, {&x_var},
                     [outer, reduced, inner, factor](const Tensor& gy, std::span<Tensor* const> gx) {
    const float* g = gy.f32();
    float* dx = gx[0]->f32();
#pragma omp parallel for schedule(static) if (outer * reduced * inner > (1 << 16) && outer > 1)
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t r = 0; r < reduced; ++r)
        for (int64_t i = 0; i < inner; ++i)
          dx[(o * reduced + r) * inner + i] += g[o * inner + i] * factor;
  });
}

Var reduce_dim(const Var& x, int64_t dim, bool keepdim, bool average, const char* op) {
  HEED_CHECK(x.defined(), op, ": input is undefined");
  const Shape& s = x.shape();
  const int d = normalize_dim(dim, int64_t(s.size()), op);
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < d; ++i) outer *= s[i];
  for (size_t i = size_t(d) + 1; i < s.size(); ++i) inner *= s[i];
  HEED_CHECK(!average || s[d] > 0, op, ": cannot average over empty dimension ", d, " of ",
             shape_str(s));
  Shape out = s;
  if (keepdim)
    out[d] = 1;
  else
    out.erase(out.begin() + d);
  return reduce(x, outer, s[d], inner, out, average, op);
}
}  // namespace

Var sum(const Var& x) { return reduce(x, 1, x.value().numel(), 1, {}, false, "sum"); }
Var mean(const Var& x) {
  HEED_CHECK(x.defined() && x.value().numel() > 0, "mean: input is empty");
  return reduce(x, 1, x.value().numel(), 1, {}, true, "mean");
}
Var sum(const Var& x, int64_t dim, bool keepdim) { return reduce_dim(x, dim, keepdim, false, "sum"); }
Var mean(const Var& x, int64_t dim, bool keepdim) {
  return reduce_dim(x, dim, keepdim, true, "mean");
}

}  // namespace heed
