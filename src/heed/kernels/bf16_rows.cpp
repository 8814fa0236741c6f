// Compiled once per SIMD target (Highway's foreach_target.h; heed/kernels/simd.h): plain loops
// that GCC vectorises for each target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "heed/kernels/bf16_rows.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <bit>
#include <cstdint>

#include "heed/kernels/bf16_rows.h"

HWY_BEFORE_NAMESPACE();
namespace heed::kernels::HWY_NAMESPACE {

// Elements are spread over threads once a call has this many (below it, threads cost more).
constexpr int64_t kParallelElements = int64_t{1} << 16;

// Adding 0x7FFF plus the lowest kept bit, then dropping the low 16 bits, rounds to nearest with
// ties to even; a carry into the exponent is the correct rounding up (to infinity past the largest
// finite bf16). NaN would round to infinity that way when its payload sits in the low bits only,
// so NaNs keep their top bits with the quiet bit set instead.
inline uint32_t RoundedBits(float x) {
  const uint32_t b = std::bit_cast<uint32_t>(x);
  const uint32_t rounded = (b + 0x7FFFu + ((b >> 16) & 1u)) >> 16;
  const uint32_t nan = (b >> 16) | 0x40u;
  return (b & 0x7FFFFFFFu) > 0x7F800000u ? nan : rounded;
}

void RoundToBf16Bits(const float* x, int64_t count, uint16_t* out) {
#pragma omp parallel for simd schedule(static) if (count >= kParallelElements)
  for (int64_t i = 0; i < count; ++i) out[i] = uint16_t(RoundedBits(x[i]));
}

void RoundThroughBf16(const float* x, int64_t count, float* out) {
#pragma omp parallel for simd schedule(static) if (count >= kParallelElements)
  for (int64_t i = 0; i < count; ++i) out[i] = std::bit_cast<float>(RoundedBits(x[i]) << 16);
}

}  // namespace heed::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace heed::kernels {
HWY_EXPORT(RoundToBf16Bits);
HWY_EXPORT(RoundThroughBf16);

void round_to_bf16_bits(const float* x, int64_t count, uint16_t* out) {
  HWY_DYNAMIC_DISPATCH(RoundToBf16Bits)(x, count, out);
}
void round_through_bf16(const float* x, int64_t count, float* out) {
  HWY_DYNAMIC_DISPATCH(RoundThroughBf16)(x, count, out);
}
}  // namespace heed::kernels
#endif
