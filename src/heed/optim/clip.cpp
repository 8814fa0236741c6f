#include "heed/optim/clip.h"

#include <cmath>
#include <utility>

#include "heed/kernels/elementwise.h"
#include "heed/kernels/optimizer_update.h"

namespace heed::optim {

namespace {

// The defined gradients (sharing storage with the parameters' gradient buffers).
std::vector<Tensor> defined_grads(const std::vector<Param>& params) {
  std::vector<Tensor> grads;
  for (const Param& p : params) {
    HEED_CHECK(p.var, "clip_grad_norm: parameter '", p.name, "' is null");
    const Tensor& grad = std::as_const(*p.var).grad();
    if (!grad.defined()) continue;
    HEED_CHECK(grad.dtype() == DType::F32 && grad.is_contiguous(), "clip_grad_norm: gradient of '",
               p.name, "' must be a contiguous f32 tensor, got ", grad.str());
    grads.push_back(grad);
  }
  return grads;
}

}  // namespace

float clip_grad_norm(const std::vector<Param>& params, float max_norm) {
  HEED_CHECK(max_norm > 0.0f, "clip_grad_norm: max_norm must be > 0, got ", max_norm);
  std::vector<Tensor> grads = defined_grads(params);
  double squares = 0.0;
  for (const Tensor& g : grads) squares += kernels::sum_of_squares(g.f32(), g.numel());
  const double norm = std::sqrt(squares);
  const double coefficient = double(max_norm) / (norm + 1e-6);
  if (std::isfinite(norm) && coefficient < 1.0)
    for (Tensor& g : grads) kernels::scale(g.f32(), float(coefficient), g.f32(), g.numel());
  return float(norm);
}

}  // namespace heed::optim
