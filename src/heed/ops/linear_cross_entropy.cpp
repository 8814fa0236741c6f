// linear_cross_entropy: cross_entropy(linear(x, weight), targets) without holding the logits
// (kernels/linear_cross_entropy.h): for output layers over a large vocabulary of items or words.
#include "heed/kernels/linear_cross_entropy.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var linear_cross_entropy(const Var& x_var, const Var& w_var, const Tensor& targets_in, int64_t ignore_index,
                         int64_t chunk_rows, float label_smoothing) {
  Tensor x = detail::f32_input(x_var, "linear_cross_entropy", "x");
  Tensor w = detail::f32_input(w_var, "linear_cross_entropy", "weight");
  HEED_CHECK(x.dim() == 2 && w.dim() == 2 && x.size(1) == w.size(1) && w.size(0) > 0,
             "linear_cross_entropy: x ", x.str(), " does not match weight ", w.str(),
             " (expected x [N, D] and weight [C, D])");
  const int64_t rows = x.size(0), dim = x.size(1), classes = w.size(0);
  HEED_CHECK(targets_in.defined() && targets_in.dtype() == DType::I64 && targets_in.shape() == Shape{rows},
             "linear_cross_entropy: targets must be i64 [", rows, "], got ", targets_in.str());
  HEED_CHECK(label_smoothing >= 0.f && label_smoothing <= 1.f, "linear_cross_entropy: label_smoothing ",
             label_smoothing, " is outside [0, 1]");
  Tensor targets = targets_in.contiguous();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets.i64()[r];
    HEED_CHECK(t == ignore_index || (t >= 0 && t < classes), "linear_cross_entropy: target ", t, " at row ", r,
               " is not a class index in [0, ", classes, ") nor the ignore index ", ignore_index);
  }
  const int64_t chunk = chunk_rows > 0 ? std::min(chunk_rows, std::max<int64_t>(rows, 1))
                                       : kernels::linear_cross_entropy_chunk(rows, classes);
  Tensor lse = Tensor::empty({rows});
  float loss = 0.f;
  {
    Tensor scratch = Tensor::empty({chunk, classes});
    loss = kernels::linear_cross_entropy_forward(x.f32(), w.f32(), targets.i64(), lse.f32(), rows, dim, classes,
                                                 ignore_index, chunk, scratch.f32(), label_smoothing);
  }
  return make_result(Tensor::full({}, loss), "linear_cross_entropy", {&x_var, &w_var},
                     [x, w, targets, lse, rows, dim, classes, ignore_index, chunk, label_smoothing](const Tensor& gy,
                                                                                  std::span<Tensor* const> gx) {
    const float bx = gx[0] ? detail::prepare_gradient(gx[0], x.shape()) : 0.f;
    const float bw = gx[1] ? detail::prepare_gradient(gx[1], w.shape()) : 0.f;
    Tensor scratch = Tensor::empty({2 * chunk, classes});
    kernels::linear_cross_entropy_backward(x.f32(), w.f32(), targets.i64(), lse.f32(), gy.item(),
                                           gx[0] ? gx[0]->f32() : nullptr, bx, gx[1] ? gx[1]->f32() : nullptr, bw,
                                           rows, dim, classes, ignore_index, chunk, scratch.f32(), label_smoothing);
  }, FreshGrad::kUndefined);
}

}  // namespace heed
