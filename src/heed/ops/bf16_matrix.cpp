#include "heed/ops/bf16_matrix.h"

#include <cmath>
#include <string>

#include "heed/core/error.h"

namespace heed {

Bf16Matrix Bf16Matrix::convert(const Tensor& weight, const std::string& name) {
  HEED_CHECK(weight.defined() && weight.dtype() == DType::F32 && weight.dim() == 2, "bf16: weight '", name,
             "' must be an f32 matrix, got ", weight.str());
  const Tensor w = weight.contiguous();
  const int64_t count = w.numel();
  for (int64_t i = 0; i < count; ++i)
    HEED_CHECK(std::isfinite(w.f32()[i]), "bf16: weight '", name, "' holds ", w.f32()[i], " at element ", i);
  Bf16Matrix m;
  m.rows = w.size(0);
  m.cols = w.size(1);
  m.bits.resize(static_cast<size_t>(count));
  kernels::round_to_bf16(w.f32(), count, m.bits.data());
  if (!kernels::bf16_native()) {
    m.widened.resize(static_cast<size_t>(count));
    kernels::widen_bf16(m.bits.data(), count, m.widened.data());
  }
  return m;
}

Tensor Bf16Matrix::widen() const {
  Tensor w = Tensor::empty({rows, cols});
  kernels::widen_bf16(bits.data(), rows * cols, w.f32());
  return w;
}

}  // namespace heed
