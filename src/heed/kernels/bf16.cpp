#include "heed/kernels/bf16.h"

#include <bit>

#include "heed/core/allocator.h"
#include "heed/core/error.h"
#include "heed/kernels/bf16_rows.h"
#include "heed/kernels/elementwise.h"
#include "heed/kernels/gemm.h"

namespace heed::kernels {

uint16_t to_bf16(float x) {
  uint16_t out;
  round_to_bf16_bits(&x, 1, &out);
  return out;
}

float from_bf16(uint16_t x) { return std::bit_cast<float>(uint32_t(x) << 16); }

void round_to_bf16(const float* x, int64_t count, uint16_t* out) { round_to_bf16_bits(x, count, out); }

void widen_bf16(const uint16_t* x, int64_t count, float* out) {
  for (int64_t i = 0; i < count; ++i) out[i] = from_bf16(x[i]);
}

bool bf16_native() {
  static const bool native = onednn_has_bf16();
  return native;
}

void bf16_linear(const float* x, int64_t m, int64_t k, const uint16_t* w, const float* w_widened, int64_t n,
                 const float* bias, float* y, PackedWeightCache* cache, Bf16Path path) {
  if (m == 0 || n == 0) return;
  if (path == Bf16Path::Auto) path = bf16_native() ? Bf16Path::Native : Bf16Path::Emulated;
  HEED_CHECK(path == Bf16Path::Emulated || bf16_native(),
             "bf16_linear: this CPU has no bf16 dot products (AVX-512 BF16 or AMX); use the emulated path");
  if (k > 0 && path == Bf16Path::Native) {
    ScratchBuffer<uint16_t> x_bf16(m * k);
    round_to_bf16_bits(x, m * k, x_bf16.data());
    MatmulSpec spec;
    spec.m = m;
    spec.n = n;
    spec.k = k;
    spec.a = spec.b = MatmulType::BF16;
    spec.c = MatmulType::F32;
    spec.bias = bias != nullptr;
    onednn_matmul_nt(spec, x_bf16.data(), w, bias, y, cache);
    return;
  }
  HEED_CHECK(k == 0 || w_widened, "bf16_linear: the emulated path needs the weights widened to f32");
  ScratchBuffer<float> x_rounded(m * k);
  round_through_bf16(x, m * k, x_rounded.data());
  gemm(false, true, m, n, k, 1.f, x_rounded.data(), k, w_widened, k, 0.f, y, n);
  if (bias) add_rows(bias, m, n, y);
}

}  // namespace heed::kernels
