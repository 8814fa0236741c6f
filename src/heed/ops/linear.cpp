// linear: y = x W^T + b, the workhorse of every projection.
#include "heed/kernels/elementwise.h"
#include "heed/kernels/gemm.h"
#include "heed/kernels/reduce.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var linear(const Var& x_var, const Var& w_var, const Var& b_var) {
  Tensor x = detail::f32_input(x_var, "linear", "x");
  Tensor w = detail::f32_input(w_var, "linear", "weight");
  HEED_CHECK(x.dim() >= 1 && w.dim() == 2 && x.size(-1) == w.size(1), "linear: input ", x.str(),
             " does not match weight ", w.str(), " (expected x [..., in] and weight [out, in])");
  const int64_t in = w.size(1), out = w.size(0), rows = x.numel() / std::max<int64_t>(in, 1);
  Tensor b;
  if (b_var.defined()) {
    b = detail::f32_input(b_var, "linear", "bias");
    HEED_CHECK(b.shape() == Shape{out}, "linear: bias ", b.str(), " does not match weight ", w.str());
  }
  Shape y_shape = x.shape();
  y_shape.back() = out;
  Tensor y = Tensor::empty(y_shape);
  float* yp = y.f32();
  kernels::gemm(false, true, rows, out, in, 1.f, x.f32(), in, w.f32(), in, 0.f, yp, out);
  // The bias is added after the GEMM, in one vectorised pass over the still-cached rows
  // (copying it into every row first cost one memmove call per row: 7% of a ViT step).
  if (b.defined()) kernels::add_rows(b.f32(), rows, out, yp);

  return make_result(
      y, "linear", {&x_var, &w_var, &b_var},
      [x, w, b, rows, in, out](const Tensor& gy, std::span<Tensor* const> gx) {
        // New gradient buffers are written with beta = 0 (the GEMM does not read C then).
        if (gx[0]) {  // dx = dy W
          const float beta = detail::prepare_gradient(gx[0], x.shape());
          kernels::gemm(false, false, rows, in, out, 1.f, gy.f32(), out, w.f32(), in, beta,
                        gx[0]->f32(), in);
        }
        if (gx[1]) {  // dW = dy^T x
          const float beta = detail::prepare_gradient(gx[1], w.shape());
          kernels::gemm(true, false, out, in, rows, 1.f, gy.f32(), out, x.f32(), in, beta,
                        gx[1]->f32(), in);
        }
        if (gx[2]) {  // db = column sums of dy
          if (!gx[2]->defined()) *gx[2] = Tensor::zeros(b.shape());
          kernels::sum_rows(gy.f32(), rows, out, 1.f, gx[2]->f32());
        }
      },
      FreshGrad::kUndefined);
}

}  // namespace heed
