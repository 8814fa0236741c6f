// linear_int8: y = x W^T + b with W in int8 (per output channel) and x quantised per row at run
// time (or over the layer's calibrated range): the inference path of quantised Linear layers and
// attention projections.
#include "heed/kernels/int8.h"
#include "heed/ops/int8_calibration.h"
#include "heed/ops/int8_matrix.h"
#include "heed/ops/reduced_linear.h"

namespace heed {

Var linear_int8(const Var& x_var, const Int8Matrix& w, const Var& b_var, int64_t row_begin, int64_t row_end) {
  detail::ReducedLinear r =
      detail::prepare_reduced_linear("linear_int8", "int8", x_var, b_var, w.rows, w.cols, row_begin, row_end);
  const size_t first = static_cast<size_t>(r.row_begin);
  Int8Calibration::record(w, r.x.f32(), r.rows * r.in);
  kernels::int8_linear(r.x.f32(), r.rows, r.in, w.q.data() + first * size_t(r.in), w.scale.data() + first,
                       w.row_sums.data() + first, r.out, r.bias.defined() ? r.bias.f32() : nullptr, r.y.f32(),
                       w.packed.get(), w.input_range);
  return Var(r.y);
}

}  // namespace heed
