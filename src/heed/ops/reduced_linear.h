// What the inference-only linear ops over reduced-precision weights (linear_int8, linear_bf16)
// check and prepare alike: rows [row_begin, row_end) of a weight [rows, cols], no gradient asked
// for, an f32 input [..., cols], an optional bias of the slice's length, the output's shape.
#pragma once

#include <algorithm>

#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed::detail {

struct ReducedLinear {
  Tensor x, bias, y;  // bias undefined when absent; y allocated [..., out]
  int64_t rows = 0, in = 0, out = 0, row_begin = 0;
};

inline ReducedLinear prepare_reduced_linear(const char* op, const char* kind, const Var& x_var, const Var& b_var,
                                            int64_t weight_rows, int64_t weight_cols, int64_t row_begin,
                                            int64_t row_end) {
  if (row_end < 0) row_end = weight_rows;
  HEED_CHECK(0 <= row_begin && row_begin < row_end && row_end <= weight_rows, op, ": rows [", row_begin, ", ",
             row_end, ") of a weight with ", weight_rows);
  HEED_CHECK(!(grad_enabled() && (x_var.requires_grad() || (b_var.defined() && b_var.requires_grad()))), op,
             ": ", kind, " layers are inference-only, but an input requires a gradient "
             "(run under NoGradGuard; the f32 weights serve training)");
  ReducedLinear r;
  r.x = f32_input(x_var, op, "x");
  r.in = weight_cols;
  r.out = row_end - row_begin;
  r.row_begin = row_begin;
  HEED_CHECK(r.x.dim() >= 1 && r.x.size(-1) == r.in, op, ": input ", r.x.str(), " does not match ", kind,
             " weight [", weight_rows, ", ", r.in, "]");
  if (b_var.defined()) {
    r.bias = f32_input(b_var, op, "bias");
    HEED_CHECK(r.bias.shape() == Shape{r.out}, op, ": bias ", r.bias.str(), " does not match ", r.out,
               " output rows");
  }
  r.rows = r.x.numel() / std::max<int64_t>(r.in, 1);
  Shape y_shape = r.x.shape();
  y_shape.back() = r.out;
  r.y = Tensor::empty(y_shape);
  return r;
}

}  // namespace heed::detail
