// add and sub with broadcasting: y = a + sign * b. They share one file because sub is add with
// the sign of b's gradient flipped; the gradient of a broadcast operand is summed over the
// dimensions it was stretched along.
#include "heed/kernels/broadcast.h"
#include "heed/kernels/elementwise.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

namespace {
Var add_signed(const Var& a_var, const Var& b_var, float sign, const char* op) {
  Tensor a = detail::f32_input(a_var, op, "a"), b = detail::f32_input(b_var, op, "b");
  auto plan = kernels::broadcast_plan(a.shape(), b.shape(), op);
  Tensor y = Tensor::empty(plan.out);
  const float *ap = a.f32(), *bp = b.f32();
  float* yp = y.f32();
  if (a.shape() == b.shape()) {
    const int64_t n = y.numel();
#pragma omp parallel for simd schedule(static) if (n > (1 << 15))
    for (int64_t i = 0; i < n; ++i) yp[i] = ap[i] + sign * bp[i];
  } else {
    kernels::for_each_broadcast(plan, [&](int64_t i, int64_t ia, int64_t ib) {
      yp[i] = ap[ia] + sign * bp[ib];
    });
  }
  return make_result(y, op, {&a_var, &b_var},
                     [plan, sign](const Tensor& gy, std::span<Tensor* const> gx) {
    const float* g = gy.f32();
    float* ga = gx[0] ? gx[0]->f32() : nullptr;
    float* gb = gx[1] ? gx[1]->f32() : nullptr;
    if (ga && gx[0]->shape() == plan.out) {
      kernels::add_inplace(ga, g, gy.numel());
      ga = nullptr;
    }
    if (gb && gx[1]->shape() == plan.out) {
      kernels::axpy(sign, g, gb, gy.numel());
      gb = nullptr;
    }
    if (ga || gb)
      kernels::for_each_broadcast(plan, [&](int64_t i, int64_t ia, int64_t ib) {
        if (ga) ga[ia] += g[i];
        if (gb) gb[ib] += sign * g[i];
      });
  });
}
}  // namespace

Var add(const Var& a, const Var& b) { return add_signed(a, b, 1.f, "add"); }
Var sub(const Var& a, const Var& b) { return add_signed(a, b, -1.f, "sub"); }

}  // namespace heed
