// linear_int8: y = x W^T + b with W in int8 (per output channel) and x quantised per row at run
// time: the inference path of quantised Linear layers and attention projections.
#include <algorithm>

#include "heed/kernels/int8.h"
#include "heed/ops/int8_matrix.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var linear_int8(const Var& x_var, const Int8Matrix& w, const Var& b_var, int64_t row_begin,
                int64_t row_end) {
  if (row_end < 0) row_end = w.rows;
  HEED_CHECK(0 <= row_begin && row_begin < row_end && row_end <= w.rows, "linear_int8: rows [",
             row_begin, ", ", row_end, ") of a weight with ", w.rows);
  HEED_CHECK(!(grad_enabled() && (x_var.requires_grad() || (b_var.defined() && b_var.requires_grad()))),
             "linear_int8: int8 layers are inference-only, but an input requires a gradient "
             "(run under NoGradGuard; the f32 weights serve training)");
  Tensor x = detail::f32_input(x_var, "linear_int8", "x");
  const int64_t in = w.cols, out = row_end - row_begin;
  HEED_CHECK(x.dim() >= 1 && x.size(-1) == in, "linear_int8: input ", x.str(), " does not match an int8 weight [",
             w.rows, ", ", in, "]");
  Tensor b;
  if (b_var.defined()) {
    b = detail::f32_input(b_var, "linear_int8", "bias");
    HEED_CHECK(b.shape() == Shape{out}, "linear_int8: bias ", b.str(), " does not match ", out, " output rows");
  }
  const int64_t rows = x.numel() / std::max<int64_t>(in, 1);
  Shape y_shape = x.shape();
  y_shape.back() = out;
  Tensor y = Tensor::empty(y_shape);
  const size_t first = static_cast<size_t>(row_begin);
  kernels::int8_linear(x.f32(), rows, in, w.q.data() + first * size_t(in), w.scale.data() + first,
                       w.row_sums.data() + first, out, b.defined() ? b.f32() : nullptr, y.f32(),
                       w.packed.get());
  return Var(y);
}

}  // namespace heed
