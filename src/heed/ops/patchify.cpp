// patchify: images [B, C, H, W] -> patch vectors [B, N, C p p] for a Vision Transformer's patch
// embedding (a Linear over these equals timm's stride-p Conv2d with weight reshaped [D, C p p]).
#include "heed/kernels/gather.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var patchify(const Var& x_var, int64_t patch) {
  Tensor x = detail::f32_input(x_var, "patchify", "images");
  HEED_CHECK(x.dim() == 4, "patchify: images must be [B, C, H, W], got ", x.str());
  const int64_t b = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  HEED_CHECK(patch > 0 && h % patch == 0 && w % patch == 0, "patchify: patch size ", patch,
             " does not divide the image size ", h, "x", w);
  Tensor y = Tensor::empty({b, (h / patch) * (w / patch), c * patch * patch});
  kernels::patchify_forward(x.f32(), y.f32(), b, c, h, w, patch);
  return make_result(y, "patchify", {&x_var},
                     [b, c, h, w, patch](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::patchify_backward(gy.f32(), gx[0]->f32(), b, c, h, w, patch);
  });
}

}  // namespace heed
