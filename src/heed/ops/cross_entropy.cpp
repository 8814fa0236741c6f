// cross_entropy: mean negative log-likelihood of class indices, with ignore index and label
// smoothing (PyTorch semantics); saves the per-row logsumexp for the backward.
#include <cmath>

#include "heed/kernels/cross_entropy.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var cross_entropy(const Var& logits_var, const Tensor& targets_in, const CrossEntropyOptions& opt) {
  Tensor logits = detail::f32_input(logits_var, "cross_entropy", "logits");
  HEED_CHECK(logits.dim() == 2 && logits.size(1) > 0, "cross_entropy: logits must be [N, C], got ",
             logits.str());
  HEED_CHECK(targets_in.defined() && targets_in.dtype() == DType::I64 &&
                 targets_in.shape() == Shape{logits.size(0)},
             "cross_entropy: targets must be i64 [", logits.size(0), "] for logits ", logits.str(),
             ", got ", targets_in.str());
  HEED_CHECK(opt.label_smoothing >= 0.f && opt.label_smoothing <= 1.f,
             "cross_entropy: label_smoothing must be in [0, 1], got ", opt.label_smoothing);
  Tensor targets = targets_in.contiguous();
  const int64_t rows = logits.size(0), classes = logits.size(1);
  Tensor weight;
  if (opt.weight.defined()) {
    HEED_CHECK(opt.weight.dtype() == DType::F32 && opt.weight.shape() == Shape{classes},
               "cross_entropy: weight must be f32 [", classes, "] for logits ", logits.str(), ", got ",
               opt.weight.str());
    weight = opt.weight.contiguous();
    for (int64_t c = 0; c < classes; ++c)
      HEED_CHECK(std::isfinite(weight.f32()[c]) && weight.f32()[c] >= 0.f, "cross_entropy: weight[", c, "] = ",
                 weight.f32()[c], " is not a finite number >= 0");
  }
  const float* w = weight.defined() ? weight.f32() : nullptr;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = targets.i64()[r];
    HEED_CHECK(t == opt.ignore_index || (t >= 0 && t < classes), "cross_entropy: target ", t,
               " at row ", r, " is not a class index in [0, ", classes, ") nor the ignore index ",
               opt.ignore_index);
  }
  Tensor lse = Tensor::empty({rows});
  const float loss = kernels::cross_entropy_forward(logits.f32(), targets.i64(), lse.f32(), rows,
                                                    classes, opt.ignore_index, opt.label_smoothing, w);
  return make_result(Tensor::full({}, loss), "cross_entropy", {&logits_var},
                     [logits, targets, lse, weight, rows, classes, opt](const Tensor& gy,
                                                                       std::span<Tensor* const> gx) {
    kernels::cross_entropy_backward(logits.f32(), targets.i64(), lse.f32(), gy.item(), gx[0]->f32(),
                                    rows, classes, opt.ignore_index, opt.label_smoothing,
                                    weight.defined() ? weight.f32() : nullptr);
  });
}

}  // namespace heed
