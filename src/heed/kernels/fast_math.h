// Branch-free exp, erf and tanh for float that compilers vectorise (std::exp and std::erf are
// library calls that block vectorisation). Errors: exp < 2.5e-7 relative, erf < 5e-7 and tanh
// < 2e-7 absolute,
// checked against std:: functions in tests/kernels/fast_math_test.cpp.
#pragma once

#include <cstdint>
#include <cstring>

namespace heed::kernels {

inline float bits_to_float(int32_t bits) {
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// exp(x) = 2^n * exp(r), n = round(x / ln 2), |r| <= ln(2) / 2, exp(r) by Cephes' polynomial.
// Returns exactly 0 below -87.3 (so exp(-inf) = 0, as masked attention needs) and +inf above 88.7.
inline float exp_approx(float x) {
  const float xc = x < -87.3f ? -87.3f : (x > 88.7f ? 88.7f : x);
  const float shifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  const float n = (xc * 1.44269504f + shifter) - shifter;
  const float r = xc - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const float scale = bits_to_float((static_cast<int32_t>(n) + 127) << 23);
  const float result = p * scale;
  return x < -87.3f ? 0.0f : (x > 88.7f ? __builtin_inff() : result);
}

// Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7), odd extension for x < 0.
inline float erf_approx(float x) {
  const float ax = x < 0 ? -x : x;
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float y = 1.061405429f;
  y = y * t - 1.453152027f;
  y = y * t + 1.421413741f;
  y = y * t - 0.284496736f;
  y = y * t + 0.254829592f;
  y = 1.0f - y * t * exp_approx(-ax * ax);
  return x < 0 ? -y : y;
}

// tanh(x) = sign(x) (1 - e) / (1 + e), e = exp(-2|x|): no overflow for any x.
inline float tanh_approx(float x) {
  const float ax = x < 0 ? -x : x;
  const float e = exp_approx(-2.0f * ax);
  const float y = (1.0f - e) / (1.0f + e);
  return x < 0 ? -y : y;
}

}  // namespace heed::kernels
