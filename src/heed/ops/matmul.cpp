// matmul: C = A B, batched over leading dimensions.
#include "heed/kernels/gemm.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var matmul(const Var& a_var, const Var& b_var) {
  Tensor a = detail::f32_input(a_var, "matmul", "a"), b = detail::f32_input(b_var, "matmul", "b");
  HEED_CHECK(a.dim() >= 2 && b.dim() >= 2, "matmul: inputs need rank >= 2, got ", a.str(), " and ",
             b.str());
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  const bool shared_b = b.dim() == 2;  // one [K, N] matrix for every batch
  Shape batch_dims(a.shape().begin(), a.shape().end() - 2);
  HEED_CHECK(b.size(-2) == k && (shared_b || Shape(b.shape().begin(), b.shape().end() - 2) == batch_dims),
             "matmul: cannot multiply ", a.str(), " by ", b.str(),
             " (inner sizes must match and batch dimensions must be equal, or b must be 2-D)");
  const int64_t batch = numel_of(batch_dims);
  Shape out_shape = batch_dims;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor c = Tensor::empty(out_shape);
  if (shared_b)  // [batch * M, K] @ [K, N] as one GEMM
    kernels::gemm(false, false, batch * m, n, k, 1.f, a.f32(), k, b.f32(), n, 0.f, c.f32(), n);
  else
    kernels::gemm_batched(false, false, m, n, k, 1.f, a.f32(), k, m * k, b.f32(), n, k * n, 0.f,
                          c.f32(), n, m * n, batch);

  return make_result(c, "matmul", {&a_var, &b_var},
                     [a, b, m, n, k, batch, shared_b](const Tensor& gy, std::span<Tensor* const> gx) {
    if (gx[0]) {  // dA = dC B^T
      if (shared_b)
        kernels::gemm(false, true, batch * m, k, n, 1.f, gy.f32(), n, b.f32(), n, 1.f,
                      gx[0]->f32(), k);
      else
        kernels::gemm_batched(false, true, m, k, n, 1.f, gy.f32(), n, m * n, b.f32(), n, k * n,
                              1.f, gx[0]->f32(), k, m * k, batch);
    }
    if (gx[1]) {  // dB = A^T dC
      if (shared_b)
        kernels::gemm(true, false, k, n, batch * m, 1.f, a.f32(), k, gy.f32(), n, 1.f,
                      gx[1]->f32(), n);
      else
        kernels::gemm_batched(true, false, k, n, m, 1.f, a.f32(), k, m * k, gy.f32(), n, m * n,
                              1.f, gx[1]->f32(), n, k * n, batch);
    }
  });
}

}  // namespace heed
