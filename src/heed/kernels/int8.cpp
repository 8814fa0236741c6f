#include "heed/kernels/int8.h"

#include <dnnl.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "heed/core/allocator.h"
#include "heed/core/error.h"

namespace heed::kernels {
namespace {

// Rows are spread over threads once a call has this many elements (below it, threads cost more).
constexpr int64_t kParallelElements = int64_t{1} << 15;

bool has_vnni() {
  const unsigned isa = unsigned(dnnl_get_effective_cpu_isa());
  const unsigned vnni = unsigned(dnnl_cpu_isa_avx512_core_vnni);
  return (isa & vnni) == vnni;  // avx512_core_vnni and every ISA above it (BF16, AMX)
}

// A scratch buffer from heed's allocator, whose block cache hands the same blocks to the next
// call (fresh pages from the system cost more than a small layer's whole GEMM).
template <class T>
class Scratch {
 public:
  explicit Scratch(int64_t count)
      : bytes_(std::max<size_t>(1, static_cast<size_t>(count) * sizeof(T))),
        data_(static_cast<T*>(allocate_aligned(bytes_))) {}
  ~Scratch() { free_aligned(data_, bytes_); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  T* data() { return data_; }
  T& operator[](int64_t i) { return data_[i]; }

 private:
  size_t bytes_;
  T* data_;
};

// Quantises one row into q + offset (int8 with offset 0, or u8 shifted by offset as the GEMM
// takes it); false when the row holds a non-finite value.
template <class Q>
bool quantize_row(const float* x, int64_t cols, int levels, int offset, Q* q, float* scale) {
  // `omp simd` lets the compiler vectorise the reductions (plain C++ loops over floats keep
  // their order without -ffast-math); a non-finite value fails `a <= FLT_MAX`.
  float amax = 0.f;
  int bad = 0;
#pragma omp simd reduction(max : amax) reduction(| : bad)
  for (int64_t c = 0; c < cols; ++c) {
    const float a = std::fabs(x[c]);
    bad |= !(a <= std::numeric_limits<float>::max());
    amax = std::max(amax, a);
  }
  if (bad) return false;
  *scale = amax / float(levels);
  if (amax == 0.f) {
    std::fill(q, q + cols, Q(offset));
    return true;
  }
  // Multiplying by levels / amax (a division per element was a third of a small layer's time)
  // keeps |x - q * scale| <= scale / 2 up to a few ulps of x / scale; the clamp catches
  // products that round past `levels`. Adding and
  // subtracting 1.5 * 2^23 rounds to the nearest integer (ties to even, as nearbyint) in a way
  // that vectorises: |v| <= 128 is far inside the range where that is exact.
  const float inv = float(levels) / amax, lo = -float(levels), hi = float(levels), magic = 12582912.f;
#pragma omp simd
  for (int64_t c = 0; c < cols; ++c) {
    const float v = std::min(std::max((x[c] * inv + magic) - magic, lo), hi);
    q[c] = Q(int(v) + offset);
  }
  return true;
}

// c = (a + offset) b^T in exact int32 through oneDNN; a_shifted holds a + offset as u8.
void gemm_shifted(const uint8_t* a_shifted, const int8_t* b, int64_t m, int64_t n, int64_t k, int32_t* c) {
  const int32_t zero = 0;
  const dnnl_status_t status =
      dnnl_gemm_u8s8s32('N', 'T', 'F', m, n, k, 1.f, a_shifted, k, 0, b, k, 0, 0.f, c, n, &zero);
  HEED_CHECK(status == dnnl_success, "int8 GEMM: oneDNN gemm_u8s8s32 failed (status ", int(status),
             ") for m=", m, " n=", n, " k=", k);
}

}  // namespace

int int8_activation_levels() {
  static const int levels = has_vnni() ? 127 : 63;
  return levels;
}

void quantize_rows(const float* x, int64_t rows, int64_t cols, int levels, int8_t* q, float* scale) {
  HEED_CHECK(levels >= 1 && levels <= 127, "quantize_rows: levels must be in [1, 127], got ", levels);
  std::atomic<int64_t> bad_row{-1};
#pragma omp parallel for schedule(static) if (rows * cols >= kParallelElements)
  for (int64_t r = 0; r < rows; ++r)
    if (!quantize_row(x + r * cols, cols, levels, 0, q + r * cols, scale + r)) bad_row.store(r);
  HEED_CHECK(bad_row.load() < 0, "quantize_rows: row ", bad_row.load(),
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
  Scratch<uint8_t> shifted(m * k);
  bool out_of_range = false;
  for (int64_t i = 0; i < m * k; ++i) {
    out_of_range |= a[i] > levels || a[i] < -levels;
    shifted[i] = uint8_t(int(a[i]) + offset);
  }
  HEED_CHECK(!out_of_range, "int8_gemm_nt: an activation is outside [-", levels, ", ", levels,
             "], the range this CPU's int8 GEMM computes exactly (",
             levels == 127 ? "AVX-512 VNNI" : "no VNNI: 7-bit activations", ")");
  gemm_shifted(shifted.data(), b, m, n, k, c);
  // sum_p (a + offset) b = sum_p a b + offset * sum_p b.
#pragma omp parallel for schedule(static) if (m * n >= kParallelElements)
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * n + j] -= offset * b_sums[j];
}

void int8_linear(const float* x, int64_t m, int64_t k, const int8_t* w_q, const float* w_scale,
                 const int32_t* w_sums, int64_t n, const float* bias, float* y) {
  if (m == 0 || n == 0) return;
  // As int8_gemm_nt, with the activations quantised straight into their shifted u8 form and the
  // offset correction, both scales and the bias applied in one pass over the int32 result.
  const int levels = int8_activation_levels(), offset = levels + 1;
  Scratch<uint8_t> x_q(m * k);
  Scratch<float> x_scale(m);
  std::atomic<int64_t> bad_row{-1};
#pragma omp parallel for schedule(static) if (m * k >= kParallelElements)
  for (int64_t r = 0; r < m; ++r)
    if (!quantize_row(x + r * k, k, levels, offset, x_q.data() + r * k, x_scale.data() + r)) bad_row.store(r);
  HEED_CHECK(bad_row.load() < 0, "int8_linear: input row ", bad_row.load(),
             " holds a non-finite value (NaN or infinity)");
  Scratch<int32_t> acc(m * n);
  if (k == 0) std::fill(acc.data(), acc.data() + m * n, 0);
  if (k > 0) gemm_shifted(x_q.data(), w_q, m, n, k, acc.data());
#pragma omp parallel for schedule(static) if (m * n >= kParallelElements)
  for (int64_t i = 0; i < m; ++i) {
    const float s = x_scale[i];
    const int32_t* a = acc.data() + i * n;
    float* out = y + i * n;
    if (bias) {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) out[j] = float(a[j] - offset * w_sums[j]) * (s * w_scale[j]) + bias[j];
    } else {
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) out[j] = float(a[j] - offset * w_sums[j]) * (s * w_scale[j]);
    }
  }
}

}  // namespace heed::kernels
