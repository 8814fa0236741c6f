#include "heed/kernels/int8.h"

#include <algorithm>
#include <cmath>

#include "heed/core/allocator.h"
#include "heed/core/error.h"
#include "heed/kernels/int8_rows.h"

namespace heed::kernels {
namespace {

// Rows are spread over threads once a call has this many elements (below it, threads cost more).
constexpr int64_t kParallelElements = int64_t{1} << 15;

// c = (a + offset) b^T in exact int32; a_shifted holds a + offset as u8.
void gemm_shifted(const uint8_t* a_shifted, const int8_t* b, int64_t m, int64_t n, int64_t k, int32_t* c,
                  PackedWeightCache* cache) {
  MatmulSpec spec;
  spec.m = m;
  spec.n = n;
  spec.k = k;
  spec.a = MatmulType::U8;
  spec.b = MatmulType::S8;
  spec.c = MatmulType::S32;
  onednn_matmul_nt(spec, a_shifted, b, nullptr, c, cache);
}

}  // namespace

int int8_activation_levels() {
  static const int levels = onednn_has_vnni() ? 127 : 63;
  return levels;
}

void quantize_rows(const float* x, int64_t rows, int64_t cols, int levels, int8_t* q, float* scale) {
  HEED_CHECK(levels >= 1 && levels <= 127, "quantize_rows: levels must be in [1, 127], got ", levels);
  const int64_t bad_row = quantize_rows_offset(x, rows, cols, levels, 0, reinterpret_cast<uint8_t*>(q), scale);
  HEED_CHECK(bad_row < 0, "quantize_rows: row ", bad_row,
             " holds a non-finite value (NaN or infinity), which int8 cannot represent");
}

void dequantize_rows(const int8_t* q, const float* scale, int64_t rows, int64_t cols, float* x) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) x[r * cols + c] = float(q[r * cols + c]) * scale[r];
}

void int8_row_sums(const int8_t* q, int64_t rows, int64_t cols, int32_t* sums) {
  for (int64_t r = 0; r < rows; ++r) {
    int32_t s = 0;
    for (int64_t c = 0; c < cols; ++c) s += q[r * cols + c];
    sums[r] = s;
  }
}

void int8_gemm_nt(const int8_t* a, const int8_t* b, const int32_t* b_sums, int64_t m, int64_t n,
                  int64_t k, int32_t* c) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    std::fill(c, c + m * n, 0);
    return;
  }
  // a + offset lies in [offset - levels, offset + levels], inside u8 (and, without VNNI, small
  // enough that two products fit in int16: 2 * 127 * 127 < 32768).
  const int levels = int8_activation_levels();
  const int offset = levels + 1;
  ScratchBuffer<uint8_t> shifted(m * k);
  bool out_of_range = false;
  for (int64_t i = 0; i < m * k; ++i) {
    out_of_range |= a[i] > levels || a[i] < -levels;
    shifted[i] = uint8_t(int(a[i]) + offset);
  }
  HEED_CHECK(!out_of_range, "int8_gemm_nt: an activation is outside [-", levels, ", ", levels,
             "], the range this CPU's int8 GEMM computes exactly (",
             levels == 127 ? "AVX-512 VNNI" : "no VNNI: 7-bit activations", ")");
  gemm_shifted(shifted.data(), b, m, n, k, c, nullptr);
  // sum_p (a + offset) b = sum_p a b + offset * sum_p b.
#pragma omp parallel for schedule(static) if (m * n >= kParallelElements)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * n + j] -= offset * b_sums[j];
}

void int8_linear(const float* x, int64_t m, int64_t k, const int8_t* w_q, const float* w_scale,
                 const int32_t* w_sums, int64_t n, const float* bias, float* y, PackedWeightCache* cache,
                 float input_range) {
  if (m == 0 || n == 0) return;
  // As int8_gemm_nt, with the activations quantised straight into their shifted u8 form and the
  // offset correction, both scales and the bias applied in one pass over the int32 result.
  const int levels = int8_activation_levels(), offset = levels + 1;
  ScratchBuffer<uint8_t> x_q(m * k);
  ScratchBuffer<float> x_scale(m);
  HEED_CHECK(std::isfinite(input_range) && input_range >= 0.f, "int8_linear: the static input range must be "
             "finite and >= 0, got ", input_range);
  const int64_t bad_row = quantize_rows_offset(x, m, k, levels, offset, x_q.data(), x_scale.data(), input_range);
  HEED_CHECK(bad_row < 0, "int8_linear: input row ", bad_row, " holds a non-finite value (NaN or infinity)");
  ScratchBuffer<int32_t> acc(m * n);
  if (k == 0) std::fill(acc.data(), acc.data() + m * n, 0);
  if (k > 0) gemm_shifted(x_q.data(), w_q, m, n, k, acc.data(), cache);
  int8_dequantize_output(acc.data(), m, n, offset, w_sums, x_scale.data(), w_scale, bias, y);
}

}  // namespace heed::kernels
