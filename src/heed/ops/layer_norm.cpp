// layer_norm over the last dimension, with per-row mean and rstd saved for the backward.
#include "heed/kernels/layer_norm.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var layer_norm(const Var& x_var, const Var& w_var, const Var& b_var, float eps) {
  Tensor x = detail::f32_input(x_var, "layer_norm", "x");
  Tensor w = detail::f32_input(w_var, "layer_norm", "weight");
  Tensor b = detail::f32_input(b_var, "layer_norm", "bias");
  HEED_CHECK(x.dim() >= 1, "layer_norm: needs rank >= 1, got ", x.str());
  const int64_t cols = x.size(-1), rows = cols ? x.numel() / cols : 0;
  HEED_CHECK(w.shape() == Shape{cols} && b.shape() == Shape{cols}, "layer_norm: weight ", w.str(),
             " and bias ", b.str(), " must both be [", cols, "] to normalise ", x.str());
  HEED_CHECK(eps > 0.f, "layer_norm: eps must be > 0, got ", eps);
  Tensor y = Tensor::empty(x.shape());
  Tensor mean = Tensor::empty({rows}), rstd = Tensor::empty({rows});
  kernels::layer_norm_forward(x.f32(), w.f32(), b.f32(), y.f32(), mean.f32(), rstd.f32(), rows, cols,
                              eps);
  return make_result(
      y, "layer_norm", {&x_var, &w_var, &b_var},
      [x, w, mean, rstd, rows, cols](const Tensor& gy, std::span<Tensor* const> gx) {
        // dx can be written fresh; the small dw and db are zeroed when new and summed into.
        const bool accumulate_dx = !gx[0] || detail::prepare_gradient(gx[0], x.shape()) != 0.f;
        for (int i : {1, 2})
          if (gx[i] && !gx[i]->defined()) *gx[i] = Tensor::zeros({cols});
        kernels::layer_norm_backward(x.f32(), w.f32(), mean.f32(), rstd.f32(), gy.f32(),
                                     gx[0] ? gx[0]->f32() : nullptr,
                                     gx[1] ? gx[1]->f32() : nullptr,
                                     gx[2] ? gx[2]->f32() : nullptr, rows, cols, accumulate_dx);
      },
      FreshGrad::kUndefined);
}

}  // namespace heed
