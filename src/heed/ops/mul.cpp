// mul with broadcasting: y = a * b; da = dy * b, db = dy * a (summed over stretched dimensions).
#include "heed/kernels/broadcast.h"
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var mul(const Var& a_var, const Var& b_var) {
  Tensor a = detail::f32_input(a_var, "mul", "a"), b = detail::f32_input(b_var, "mul", "b");
  auto plan = kernels::broadcast_plan(a.shape(), b.shape(), "mul");
  Tensor y = Tensor::empty(plan.out);
  const float *ap = a.f32(), *bp = b.f32();
  float* yp = y.f32();
  if (a.shape() == b.shape()) {
    kernels::mul(ap, bp, yp, y.numel());
  } else {
    kernels::for_each_broadcast(plan, [&](int64_t i, int64_t ia, int64_t ib) {
      yp[i] = ap[ia] * bp[ib];
    });
  }
  return make_result(y, "mul", {&a_var, &b_var},
                     [a, b, plan](const Tensor& gy, std::span<Tensor* const> gx) {
    const float *g = gy.f32(), *av = a.f32(), *bv = b.f32();
    float* ga = gx[0] ? gx[0]->f32() : nullptr;
    float* gb = gx[1] ? gx[1]->f32() : nullptr;
    kernels::for_each_broadcast(plan, [&](int64_t i, int64_t ia, int64_t ib) {
      if (ga) ga[ia] += g[i] * bv[ib];
      if (gb) gb[ib] += g[i] * av[ia];
    });
  });
}

}  // namespace heed
