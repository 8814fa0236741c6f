// add and sub with broadcasting: y = a + sign * b. They share one file because sub is add with
// the sign of b's gradient flipped; the gradient of a broadcast operand is summed over the
// dimensions it was stretched along.
#include "heed/kernels/broadcast.h"
#include "heed/kernels/elementwise.h"
#include "heed/kernels/reduce.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

namespace {
// When one operand covers the output's trailing dimensions and is only repeated over the leading
// ones (a bias [C] or a position embedding [1, T, C] added to [B, T, C]), returns how many
// trailing elements it covers; 0 otherwise. Those cases get parallel loops instead of the
// generic odometer.
int64_t repeated_suffix(const Shape& small, const Shape& out) {
  size_t lead = 0;  // leading dimensions of `small` that are 1 (or missing)
  const size_t offset = out.size() - small.size();
  while (lead < small.size() && small[lead] == 1) ++lead;
  for (size_t d = lead; d < small.size(); ++d)
    if (small[d] != out[offset + d]) return 0;
  return numel_of(Shape(small.begin() + long(lead), small.end()));
}

Var add_signed(const Var& a_var, const Var& b_var, float sign, const char* op) {
  Tensor a = detail::f32_input(a_var, op, "a"), b = detail::f32_input(b_var, op, "b");
  auto plan = kernels::broadcast_plan(a.shape(), b.shape(), op);
  Tensor y = Tensor::empty(plan.out);
  const float *ap = a.f32(), *bp = b.f32();
  float* yp = y.f32();
  const int64_t suffix = a.shape() == plan.out ? repeated_suffix(b.shape(), plan.out) : 0;
  if (a.shape() == b.shape()) {
    kernels::add_scaled(ap, sign, bp, yp, y.numel());
  } else if (suffix > 0) {  // b repeats over the rows of a viewed as [rows, suffix]
    kernels::add_scaled_rows(ap, sign, bp, y.numel() / suffix, suffix, yp);
  } else {
    kernels::for_each_broadcast(plan, [&](int64_t i, int64_t ia, int64_t ib) {
      yp[i] = ap[ia] + sign * bp[ib];
    });
  }
  const Shape a_shape = a.shape(), b_shape = b.shape();
  return make_result(
      y, op, {&a_var, &b_var},
      [plan, sign, suffix, a_shape, b_shape](const Tensor& gy, std::span<Tensor* const> gx) {
        // One full-shape operand that has no gradient yet takes dy itself: no copy, no pass.
        // Safe because the engine drops dy right after this node, so that operand's gradient
        // is the buffer's only holder; never both operands, or accumulating into one would
        // change the other. (If a and b are the same Var, b's contribution is added into the
        // shared buffer in place, element by element.)
        bool dy_taken = false;
        if (gx[0] && a_shape == plan.out && !gx[0]->defined()) {
          *gx[0] = gy;
          dy_taken = true;
        } else if (gx[0] && a_shape == plan.out) {
          kernels::add_inplace(gx[0]->f32(), gy.f32(), gy.numel());
        }
        if (gx[1] && b_shape == plan.out && !gx[1]->defined() && sign == 1.f && !dy_taken) {
          *gx[1] = gy;
        } else if (gx[1] && b_shape == plan.out) {
          if (detail::prepare_gradient(gx[1], b_shape) == 0.f)
            kernels::scale(gy.f32(), sign, gx[1]->f32(), gy.numel());
          else
            kernels::axpy(sign, gy.f32(), gx[1]->f32(), gy.numel());
        }
        // Broadcast operands: zeroed when new, then summed into.
        for (int i : {0, 1})
          if (gx[i] && !gx[i]->defined()) *gx[i] = Tensor::zeros(i == 0 ? a_shape : b_shape);
        const float* g = gy.f32();
        float* ga = gx[0] && a_shape != plan.out ? gx[0]->f32() : nullptr;
        float* gb = gx[1] && b_shape != plan.out ? gx[1]->f32() : nullptr;
        if (gb && suffix > 0) {  // sum the rows of dy [rows, suffix]
          kernels::sum_rows(g, gy.numel() / suffix, suffix, sign, gb);
          gb = nullptr;
        }
        if (ga || gb)
          kernels::for_each_broadcast(plan, [&](int64_t i, int64_t ia, int64_t ib) {
            if (ga) ga[ia] += g[i];
            if (gb) gb[ib] += sign * g[i];
          });
      },
      FreshGrad::kUndefined);
}
}  // namespace

Var add(const Var& a, const Var& b) { return add_signed(a, b, 1.f, "add"); }
Var sub(const Var& a, const Var& b) { return add_signed(a, b, -1.f, "sub"); }

}  // namespace heed
