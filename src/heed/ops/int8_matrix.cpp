#include "heed/ops/int8_matrix.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "heed/core/error.h"
#include "heed/kernels/int8.h"

namespace heed {

Int8Matrix Int8Matrix::quantize(const Tensor& weight) {
  HEED_CHECK(weight.defined() && weight.dtype() == DType::F32 && weight.dim() == 2,
             "int8: a weight to quantise must be an f32 matrix, got ", weight.str());
  const Tensor w = weight.contiguous();
  Int8Matrix m;
  m.rows = w.size(0);
  m.cols = w.size(1);
  m.q.resize(static_cast<size_t>(m.rows * m.cols));
  m.scale.resize(static_cast<size_t>(m.rows));
  m.row_sums.resize(static_cast<size_t>(m.rows));
  kernels::quantize_rows(w.f32(), m.rows, m.cols, 127, m.q.data(), m.scale.data());
  kernels::int8_row_sums(m.q.data(), m.rows, m.cols, m.row_sums.data());
  return m;
}

Int8Matrix Int8Matrix::from_stored(const Tensor& q, const Tensor& scale, const std::string& name) {
  HEED_CHECK(q.defined() && q.dtype() == DType::I64 && q.dim() == 2, "int8 weight '", name,
             "' must be an integer matrix, got ", q.str());
  HEED_CHECK(scale.defined() && scale.dtype() == DType::F32 && scale.shape() == Shape{q.size(0)},
             "int8 weight '", name, "_scale' must be f32 [", q.size(0), "], got ", scale.str());
  const Tensor qc = q.contiguous(), sc = scale.contiguous();
  Int8Matrix m;
  m.rows = q.size(0);
  m.cols = q.size(1);
  m.q.resize(static_cast<size_t>(m.rows * m.cols));
  for (int64_t i = 0; i < m.rows * m.cols; ++i) {
    const int64_t v = qc.i64()[i];
    HEED_CHECK(v >= -127 && v <= 127, "int8 weight '", name, "' holds ", v, " at element ", i,
               " (outside [-127, 127])");
    m.q[static_cast<size_t>(i)] = int8_t(v);
  }
  m.scale.assign(sc.f32(), sc.f32() + m.rows);
  for (int64_t r = 0; r < m.rows; ++r)
    HEED_CHECK(std::isfinite(m.scale[size_t(r)]) && m.scale[size_t(r)] >= 0, "int8 weight '", name,
               "_scale' row ", r, " is ", m.scale[size_t(r)], " (must be finite and >= 0)");
  m.row_sums.resize(static_cast<size_t>(m.rows));
  kernels::int8_row_sums(m.q.data(), m.rows, m.cols, m.row_sums.data());
  return m;
}

Tensor Int8Matrix::dequantize() const {
  Tensor w = Tensor::empty({rows, cols});
  kernels::dequantize_rows(q.data(), scale.data(), rows, cols, w.f32());
  return w;
}

Tensor Int8Matrix::stored_q() const {
  Tensor t = Tensor::empty({rows, cols}, DType::I64);
  for (size_t i = 0; i < q.size(); ++i) t.i64()[i] = q[i];
  return t;
}

Tensor Int8Matrix::stored_scale() const {
  Tensor t = Tensor::empty({rows});
  std::copy(scale.begin(), scale.end(), t.f32());
  return t;
}

}  // namespace heed
