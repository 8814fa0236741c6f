// linear_bf16: y = x W^T + b with W in bf16 and x rounded to bf16, f32 accumulation and output:
// the inference path of Linear layers and attention projections after Module::convert_bf16.
#include "heed/kernels/bf16.h"
#include "heed/ops/bf16_matrix.h"
#include "heed/ops/reduced_linear.h"

namespace heed {

Var linear_bf16(const Var& x_var, const Bf16Matrix& w, const Var& b_var, int64_t row_begin, int64_t row_end) {
  detail::ReducedLinear r =
      detail::prepare_reduced_linear("linear_bf16", "bf16", x_var, b_var, w.rows, w.cols, row_begin, row_end);
  const size_t first = static_cast<size_t>(r.row_begin) * size_t(r.in);
  kernels::bf16_linear(r.x.f32(), r.rows, r.in, w.bits.data() + first,
                       w.widened.empty() ? nullptr : w.widened.data() + first, r.out,
                       r.bias.defined() ? r.bias.f32() : nullptr, r.y.f32(), w.packed.get());
  return Var(r.y);
}

}  // namespace heed
