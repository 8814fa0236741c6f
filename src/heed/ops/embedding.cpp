// embedding: rows of a table selected by integer ids; repeated ids accumulate gradient.
#include "heed/kernels/gather.h"
#include "heed/ops/op_util.h"
#include "heed/ops/ops.h"

namespace heed {

Var embedding(const Tensor& ids_in, const Var& w_var) {
  HEED_CHECK(ids_in.defined() && ids_in.dtype() == DType::I64, "embedding: ids must be i64, got ",
             ids_in.str());
  Tensor w = detail::f32_input(w_var, "embedding", "weight");
  HEED_CHECK(w.dim() == 2, "embedding: weight must be [vocab, dim], got ", w.str());
  Tensor ids = ids_in.contiguous();
  const int64_t vocab = w.size(0), dim = w.size(1), n = ids.numel();
  const int64_t* idp = ids.i64();
  for (int64_t i = 0; i < n; ++i)
    HEED_CHECK(idp[i] >= 0 && idp[i] < vocab, "embedding: id ", idp[i], " at position ", i,
               " is outside the table of ", vocab, " rows");
  Shape out_shape = ids.shape();
  out_shape.push_back(dim);
  Tensor y = Tensor::empty(out_shape);
  kernels::embedding_forward(idp, n, w.f32(), dim, y.f32());
  return make_result(y, "embedding", {&w_var}, [ids, n, dim](const Tensor& gy, std::span<Tensor* const> gx) {
    kernels::embedding_backward(ids.i64(), n, gy.f32(), dim, gx[0]->f32());
  });
}

}  // namespace heed
