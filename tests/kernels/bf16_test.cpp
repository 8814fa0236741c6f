// bf16 kernels against references computed here: rounding against the two bf16 neighbours of
// each value (and the tie cases by hand), the bf16 linear layer against double-precision sums of
// the bf16-rounded operands (the products of two bf16 values are exact, so only the f32
// accumulation may differ), on both paths: oneDNN's bf16 matmul where the CPU has bf16 dot
// products, and the emulated f32 path everywhere.
#include "heed/kernels/bf16.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <tuple>
#include <vector>

#include "heed/core/rng.h"
#include "test_util.h"

namespace heed::kernels {
namespace {

float bits_to_float(uint32_t b) { return std::bit_cast<float>(b); }

TEST(Bf16Kernels, RoundsToNearestWithTiesToEven) {
  EXPECT_EQ(to_bf16(1.f), 0x3F80);
  EXPECT_EQ(to_bf16(-2.f), 0xC000);
  EXPECT_EQ(to_bf16(-0.f), 0x8000);
  // 1 + 2^-8 lies halfway between 1 (even mantissa) and 1 + 2^-7: to 1.
  EXPECT_EQ(to_bf16(1.f + 0x1p-8f), 0x3F80);
  // 1 + 3 * 2^-8 lies halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): up.
  EXPECT_EQ(to_bf16(1.f + 3 * 0x1p-8f), 0x3F82);
  // Just above the first halfway point: up.
  EXPECT_EQ(to_bf16(1.f + 0x1p-8f + 0x1p-23f), 0x3F81);
  // The largest finite f32 rounds past bf16's largest finite value: infinity, as f32 overflow.
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::max()), 0x7F80);
  EXPECT_EQ(to_bf16(std::numeric_limits<float>::infinity()), 0x7F80);
  EXPECT_EQ(to_bf16(-std::numeric_limits<float>::infinity()), 0xFF80);
  // NaNs stay NaN, including one whose payload lies only in the dropped bits.
  for (uint32_t nan : {0x7FC00000u, 0x7F800001u, 0xFF800001u, 0x7FFFFFFFu}) {
    const uint16_t b = to_bf16(bits_to_float(nan));
    EXPECT_TRUE(std::isnan(from_bf16(b))) << std::hex << nan << " -> " << b;
  }
  EXPECT_EQ(from_bf16(0x3F80), 1.f);
  EXPECT_EQ(from_bf16(0xC0A0), -5.f);
}

TEST(Bf16Kernels, EachValueGoesToTheNearerNeighbour) {
  Rng rng(11);
  std::vector<float> x(4099);
  for (size_t i = 0; i < x.size(); ++i)
    x[i] = rng.normal() * std::ldexp(1.f, int(rng.below(60)) - 30);  // magnitudes 2^-30 .. 2^30
  x[7] = 1e-40f;  // an f32 denormal
  std::vector<uint16_t> bits(x.size());
  round_to_bf16(x.data(), int64_t(x.size()), bits.data());  // the vectorised path
  for (size_t i = 0; i < x.size(); ++i) {
    ASSERT_EQ(bits[i], to_bf16(x[i])) << i;
    const uint32_t f = std::bit_cast<uint32_t>(x[i]);
    const float down = bits_to_float(f & 0xFFFF0000u), up = bits_to_float((f & 0xFFFF0000u) + 0x10000u);
    const double d_down = std::fabs(double(x[i]) - down), d_up = std::fabs(double(x[i]) - up);
    const float got = from_bf16(bits[i]);
    ASSERT_TRUE(got == down || got == up) << i << ": " << x[i] << " -> " << got;
    if (d_down != d_up) {
      ASSERT_EQ(got, d_down < d_up ? down : up) << i << ": " << x[i];
    }
  }
}

// y = x W^T + b over the bf16-rounded x and W, in double: the exact value the GEMM approximates.
std::vector<double> reference(const std::vector<float>& x, const std::vector<uint16_t>& w, const std::vector<float>& bias,
                              int64_t m, int64_t k, int64_t n, std::vector<double>* magnitude) {
  std::vector<double> y(size_t(m * n)), xr(x.size()), wr(w.size());
  for (size_t i = 0; i < x.size(); ++i) xr[i] = from_bf16(to_bf16(x[i]));
  for (size_t i = 0; i < w.size(); ++i) wr[i] = from_bf16(w[i]);
  magnitude->assign(size_t(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = bias.empty() ? 0.0 : bias[size_t(j)], a = std::fabs(s);
      for (int64_t p = 0; p < k; ++p) {
        const double prod = xr[size_t(i * k + p)] * wr[size_t(j * k + p)];
        s += prod;
        a += std::fabs(prod);
      }
      y[size_t(i * n + j)] = s;
      (*magnitude)[size_t(i * n + j)] = a;
    }
  return y;
}

std::vector<Bf16Path> paths() {
  return bf16_native() ? std::vector<Bf16Path>{Bf16Path::Native, Bf16Path::Emulated}
                       : std::vector<Bf16Path>{Bf16Path::Emulated};
}

TEST(Bf16Kernels, LinearMatchesTheExactSumOfTheRoundedOperands) {
  Rng rng(5);
  // Odd shapes, a row count that the 32-row split cuts into a block and a tail, and K = 3072.
  for (auto [m, k, n] : {std::tuple<int64_t, int64_t, int64_t>{1, 7, 3}, {77, 64, 192}, {33, 3072, 40}, {5, 768, 769}}) {
    std::vector<float> x(static_cast<size_t>(m * k)), w_f32(static_cast<size_t>(n * k)), bias(static_cast<size_t>(n));
    for (float& v : x) v = rng.normal();
    for (float& v : w_f32) v = 0.05f * rng.normal();
    for (float& v : bias) v = rng.normal();
    std::vector<uint16_t> w(w_f32.size());
    round_to_bf16(w_f32.data(), int64_t(w.size()), w.data());
    std::vector<float> widened(w.size());
    widen_bf16(w.data(), int64_t(w.size()), widened.data());
    std::vector<double> magnitude;
    const std::vector<double> want = reference(x, w, bias, m, k, n, &magnitude);
    for (Bf16Path path : paths()) {
      std::vector<float> y(size_t(m * n), std::nanf(""));
      bf16_linear(x.data(), m, k, w.data(), widened.data(), n, bias.data(), y.data(), nullptr, path);
      // f32 accumulation of k exact products (and the bias): |error| <= (k + 1) * 2^-24 * sum
      // |terms|, the classic bound for recursive summation to first order.
      const double bound = double(k + 1) * 0x1p-24;
      for (size_t i = 0; i < y.size(); ++i)
        ASSERT_LE(std::fabs(y[i] - want[i]), bound * magnitude[i])
            << "m=" << m << " k=" << k << " n=" << n << " path " << int(path) << " element " << i;
    }
  }
}

TEST(Bf16Kernels, NoBiasAndCachedWeightsGiveTheUncachedResult) {
  Rng rng(8);
  const int64_t k = 96, n = 50;
  std::vector<float> w_f32(size_t(n * k));
  for (float& v : w_f32) v = rng.normal();
  std::vector<uint16_t> w(w_f32.size());
  round_to_bf16(w_f32.data(), int64_t(w.size()), w.data());
  std::vector<float> widened(w.size());
  widen_bf16(w.data(), int64_t(w.size()), widened.data());
  PackedWeightCache cache;
  for (int64_t m : {1, 31, 32, 65, 130}) {
    std::vector<float> x(size_t(m * k));
    for (float& v : x) v = rng.normal();
    std::vector<float> plain(size_t(m * n)), cached(size_t(m * n));
    bf16_linear(x.data(), m, k, w.data(), widened.data(), n, nullptr, plain.data());
    bf16_linear(x.data(), m, k, w.data(), widened.data(), n, nullptr, cached.data(), &cache);
    for (size_t i = 0; i < plain.size(); ++i) ASSERT_EQ(plain[i], cached[i]) << "m=" << m << " " << i;
    std::vector<double> magnitude;
    const std::vector<double> want = reference(x, w, {}, m, k, n, &magnitude);
    for (size_t i = 0; i < plain.size(); ++i)
      ASSERT_LE(std::fabs(plain[i] - want[i]), double(k) * 0x1p-24 * magnitude[i]) << i;
  }
}

TEST(Bf16Kernels, NativeIsRefusedWithoutBf16DotProductsAndEmulationNeedsWidenedWeights) {
  std::vector<float> x(4, 1.f), y(4), widened(4, 1.f);
  std::vector<uint16_t> w(4, 0x3F80);
  EXPECT_CONTAINS(test::error_message([&] {
                    bf16_linear(x.data(), 2, 2, w.data(), nullptr, 2, nullptr, y.data(), nullptr,
                                Bf16Path::Emulated);
                  }),
                  "widened");
  if (bf16_native()) return;  // the refusal below cannot be reached on this CPU
  EXPECT_CONTAINS(test::error_message([&] {
                    bf16_linear(x.data(), 2, 2, w.data(), widened.data(), 2, nullptr, y.data(), nullptr,
                                Bf16Path::Native);
                  }),
                  "no bf16 dot products");
}

}  // namespace
}  // namespace heed::kernels
