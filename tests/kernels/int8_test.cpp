// int8 kernels against references computed here in plain integer and double arithmetic: the
// GEMM must be exact, quantisation within half a step, and the int8 linear layer within the
// error bound that those half steps imply. The suite also runs on emulated CPUs without VNNI
// (tests/CMakeLists.txt), where activations get 7 bits.
#include "heed/kernels/int8.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <tuple>
#include <limits>
#include <vector>

#include "heed/core/error.h"
#include "heed/core/rng.h"

namespace heed::kernels {
namespace {

std::vector<int8_t> random_int8(int64_t count, int limit, Rng& rng) {
  std::vector<int8_t> v(static_cast<size_t>(count));
  for (auto& x : v) x = int8_t(int64_t(rng.below(uint64_t(2 * limit + 1))) - limit);
  return v;
}

std::vector<float> random_floats(int64_t count, float scale, Rng& rng) {
  std::vector<float> v(static_cast<size_t>(count));
  for (auto& x : v) x = scale * rng.normal();
  return v;
}

TEST(Int8Kernels, ActivationLevelsFollowTheCpu) {
  const int levels = int8_activation_levels();
  EXPECT_TRUE(levels == 127 || levels == 63) << levels;
}

TEST(Int8Kernels, QuantizeRowsWithinHalfAStep) {
  Rng rng(3);
  const int64_t rows = 37, cols = 301;
  std::vector<float> x = random_floats(rows * cols, 1.f, rng);
  for (int64_t c = 0; c < cols; ++c) x[size_t(5 * cols + c)] *= 1e-6f;  // a tiny row
  for (int64_t c = 0; c < cols; ++c) x[size_t(9 * cols + c)] = 0.f;     // an all-zero row
  x[size_t(11 * cols + 4)] = 1e30f;                                       // a row with one outlier
  for (int levels : {127, 63, 1}) {
    std::vector<int8_t> q(x.size());
    std::vector<float> scale(static_cast<size_t>(rows)), back(x.size());
    quantize_rows(x.data(), rows, cols, levels, q.data(), scale.data());
    dequantize_rows(q.data(), scale.data(), rows, cols, back.data());
    for (int64_t r = 0; r < rows; ++r) {
      double amax = 0;
      int qmax = 0;
      for (int64_t c = 0; c < cols; ++c) {
        amax = std::max(amax, std::fabs(double(x[size_t(r * cols + c)])));
        qmax = std::max(qmax, std::abs(int(q[size_t(r * cols + c)])));
      }
      EXPECT_NEAR(scale[size_t(r)], amax / levels, 1e-6 * amax / levels) << "row " << r;
      EXPECT_EQ(qmax, amax == 0 ? 0 : levels) << "row " << r << " levels " << levels;
      for (int64_t c = 0; c < cols; ++c) {
        const size_t i = size_t(r * cols + c);
        // Half a step, plus the float rounding of x / scale and of q * scale.
        EXPECT_LE(std::fabs(double(back[i]) - x[i]), 0.5 * scale[size_t(r)] * (1 + 1e-5) + 1e-7 * std::fabs(x[i]))
            << "row " << r << " col " << c << " levels " << levels;
      }
    }
  }
}

TEST(Int8Kernels, QuantizeRefusesNonFiniteValuesAndBadLevels) {
  std::vector<float> x(12, 1.f);
  std::vector<int8_t> q(12);
  std::vector<float> scale(3);
  x[7] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(
      {
        try {
          quantize_rows(x.data(), 3, 4, 127, q.data(), scale.data());
        } catch (const Error& e) {
          EXPECT_NE(std::string(e.what()).find("row 1"), std::string::npos) << e.what();
          throw;
        }
      },
      Error);
  x[7] = std::numeric_limits<float>::infinity();
  EXPECT_THROW(quantize_rows(x.data(), 3, 4, 127, q.data(), scale.data()), Error);
  x[7] = 1.f;
  EXPECT_THROW(quantize_rows(x.data(), 3, 4, 0, q.data(), scale.data()), Error);
  EXPECT_THROW(quantize_rows(x.data(), 3, 4, 128, q.data(), scale.data()), Error);
}

TEST(Int8Kernels, GemmIsExactAgainstAnIntegerReference) {
  Rng rng(11);
  const int levels = int8_activation_levels();
  // Odd sizes around oneDNN's blocking, one row (decoding), and a deep K where int16 pair sums
  // would overflow if the 7-bit rule were broken.
  for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{1, 1, 1}, {1, 64, 768}, {7, 5, 3},
                         {33, 65, 129}, {300, 192, 64}, {128, 96, 3072}, {3, 2, 0}}) {
    const std::vector<int8_t> a = random_int8(m * k, levels, rng);
    std::vector<int8_t> b = random_int8(n * k, 127, rng);
    if (n * k > 0) b[0] = 127, b[size_t(n * k - 1)] = -127;  // the weights' extremes
    std::vector<int32_t> sums(static_cast<size_t>(n)), c(size_t(m * n), -1);
    int8_row_sums(b.data(), n, k, sums.data());
    int8_gemm_nt(a.data(), b.data(), sums.data(), m, n, k, c.data());
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) {
        int64_t want = 0;
        for (int64_t p = 0; p < k; ++p) want += int64_t(a[size_t(i * k + p)]) * b[size_t(j * k + p)];
        ASSERT_EQ(c[size_t(i * n + j)], want) << m << "x" << n << "x" << k << " at " << i << "," << j;
      }
  }
}

TEST(Int8Kernels, GemmAtTheExtremesOfTheRange) {
  // Every product at its largest magnitude, both signs: saturation would show at once.
  const int levels = int8_activation_levels();
  const int64_t m = 4, n = 3, k = 1000;
  std::vector<int8_t> a(static_cast<size_t>(m * k)), b(static_cast<size_t>(n * k));
  for (int64_t i = 0; i < m * k; ++i) a[size_t(i)] = int8_t(i % 2 ? levels : -levels);
  for (int64_t i = 0; i < n * k; ++i) b[size_t(i)] = int8_t((i / 2) % 2 ? 127 : -127);
  std::vector<int32_t> sums(static_cast<size_t>(n)), c(static_cast<size_t>(m * n));
  int8_row_sums(b.data(), n, k, sums.data());
  int8_gemm_nt(a.data(), b.data(), sums.data(), m, n, k, c.data());
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t want = 0;
      for (int64_t p = 0; p < k; ++p) want += int64_t(a[size_t(i * k + p)]) * b[size_t(j * k + p)];
      EXPECT_EQ(c[size_t(i * n + j)], want) << i << "," << j;
    }
}

TEST(Int8Kernels, GemmRefusesActivationsOutsideTheExactRange) {
  const int levels = int8_activation_levels();
  std::vector<int8_t> a(8, 1), b(8, 1);
  a[3] = int8_t(-levels - 1);
  std::vector<int32_t> sums(2), c(4);
  int8_row_sums(b.data(), 2, 4, sums.data());
  EXPECT_THROW(int8_gemm_nt(a.data(), b.data(), sums.data(), 2, 2, 4, c.data()), Error);
}

TEST(Int8Kernels, LinearWithinTheBoundOfItsRounding) {
  Rng rng(5);
  const int64_t m = 19, k = 200, n = 23;
  const std::vector<float> x = random_floats(m * k, 2.f, rng), w = random_floats(n * k, 0.05f, rng),
                           bias = random_floats(n, 1.f, rng);
  std::vector<int8_t> w_q(w.size());
  std::vector<float> w_scale(static_cast<size_t>(n)), y(static_cast<size_t>(m * n));
  std::vector<int32_t> w_sums(static_cast<size_t>(n));
  quantize_rows(w.data(), n, k, 127, w_q.data(), w_scale.data());
  int8_row_sums(w_q.data(), n, k, w_sums.data());
  int8_linear(x.data(), m, k, w_q.data(), w_scale.data(), w_sums.data(), n, bias.data(), y.data());
  const int levels = int8_activation_levels();
  double worst_ratio = 0;
  for (int64_t i = 0; i < m; ++i) {
    double amax = 0;
    for (int64_t p = 0; p < k; ++p) amax = std::max(amax, std::fabs(double(x[size_t(i * k + p)])));
    const double ex = 0.5 * amax / levels;  // the activation row's half step
    for (int64_t j = 0; j < n; ++j) {
      double want = bias[size_t(j)], bound = 0;
      const double ew = 0.5 * w_scale[size_t(j)];
      for (int64_t p = 0; p < k; ++p) {
        const double xv = x[size_t(i * k + p)], wv = w[size_t(j * k + p)];
        want += xv * wv;
        bound += std::fabs(xv) * ew + std::fabs(wv) * ex + ex * ew;  // |x dw + w dx + dx dw|
      }
      const double err = std::fabs(y[size_t(i * n + j)] - want);
      EXPECT_LE(err, bound * (1 + 1e-4) + 1e-5) << i << "," << j;
      worst_ratio = std::max(worst_ratio, err / bound);
    }
  }
  // The bound is worst-case; independent rounding errors land far inside it.
  EXPECT_LT(worst_ratio, 0.5);
}

// Static activations (a calibrated range R shared by every row): each x is quantised with the
// step R / levels, values beyond +-R clamp to +-R first. The result stays within the rounding
// bound of the exact sum over the clamped x, and rows far inside the range get the coarse step
// of R, not their own.
TEST(Int8Kernels, LinearWithAStaticRangeClampsAndUsesOneStep) {
  Rng rng(8);
  const int64_t m = 12, k = 150, n = 17;
  std::vector<float> x = random_floats(m * k, 1.f, rng);
  for (int64_t p = 0; p < k; ++p) x[size_t(3 * k + p)] *= 0.01f;  // a row far inside the range
  const float range = 1.5f;  // about 1.5 sigma: many values clamp
  const std::vector<float> w = random_floats(n * k, 0.05f, rng), bias = random_floats(n, 1.f, rng);
  std::vector<int8_t> w_q(w.size());
  std::vector<float> w_scale(static_cast<size_t>(n)), y(static_cast<size_t>(m * n));
  std::vector<int32_t> w_sums(static_cast<size_t>(n));
  quantize_rows(w.data(), n, k, 127, w_q.data(), w_scale.data());
  int8_row_sums(w_q.data(), n, k, w_sums.data());
  int8_linear(x.data(), m, k, w_q.data(), w_scale.data(), w_sums.data(), n, bias.data(), y.data(), nullptr, range);
  const double ex = 0.5 * range / int8_activation_levels();  // the one half step of every row
  int clamped = 0;
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double want = bias[size_t(j)], unclamped = bias[size_t(j)], bound = 0;
      const double ew = 0.5 * w_scale[size_t(j)];
      for (int64_t p = 0; p < k; ++p) {
        const double xv = x[size_t(i * k + p)], wv = w[size_t(j * k + p)];
        const double xc = std::clamp(xv, -double(range), double(range));
        want += xc * wv;
        unclamped += xv * wv;
        bound += std::fabs(xc) * ew + std::fabs(wv) * ex + ex * ew;
        if (j == 0) clamped += xc != xv;
      }
      ASSERT_LE(std::fabs(y[size_t(i * n + j)] - want), bound * (1 + 1e-4) + 1e-5) << i << "," << j;
    }
  EXPECT_GT(clamped, m * k / 20) << "the range should clamp a good share of the values";
  // Row 3 (|x| about 0.01 sigma) quantised over R has steps 100 times coarser than over its own
  // max: the dynamic path's result lies far closer to the exact one.
  std::vector<float> dynamic(static_cast<size_t>(m * n));
  int8_linear(x.data(), m, k, w_q.data(), w_scale.data(), w_sums.data(), n, bias.data(), dynamic.data());
  double err_static = 0, err_dynamic = 0;
  for (int64_t j = 0; j < n; ++j) {
    double exact = bias[size_t(j)];
    for (int64_t p = 0; p < k; ++p) exact += double(x[size_t(3 * k + p)]) * w[size_t(j * k + p)];
    err_static += std::fabs(y[size_t(3 * n + j)] - exact);
    err_dynamic += std::fabs(dynamic[size_t(3 * n + j)] - exact);
  }
  EXPECT_GT(err_static, 5 * err_dynamic);
  // A row of zeros gives the bias; a range of 0 is the dynamic path; bad ranges are refused.
  const std::vector<float> zeros(static_cast<size_t>(k), 0.f);
  std::vector<float> y0(static_cast<size_t>(n));
  int8_linear(zeros.data(), 1, k, w_q.data(), w_scale.data(), w_sums.data(), n, bias.data(), y0.data(), nullptr, range);
  for (int64_t j = 0; j < n; ++j) EXPECT_NEAR(y0[size_t(j)], bias[size_t(j)], 1e-6) << j;
  for (float bad : {-1.f, std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()})
    EXPECT_THROW(int8_linear(x.data(), m, k, w_q.data(), w_scale.data(), w_sums.data(), n, bias.data(), y.data(),
                             nullptr, bad),
                 Error)
        << bad;
}

TEST(Int8Kernels, LinearWithoutBiasAndOnZeroRows) {
  const int64_t m = 3, k = 4, n = 2;
  const std::vector<float> x = {0, 0, 0, 0, 1, -2, 3, -4, 0.5f, 0.5f, 0.5f, 0.5f};
  const std::vector<float> w = {1, 1, 1, 1, 1, -1, 1, -1};  // exact in int8 (scale 1/127)
  std::vector<int8_t> w_q(8);
  std::vector<float> w_scale(2), y(6, 99.f);
  std::vector<int32_t> w_sums(2);
  quantize_rows(w.data(), n, k, 127, w_q.data(), w_scale.data());
  int8_row_sums(w_q.data(), n, k, w_sums.data());
  int8_linear(x.data(), m, k, w_q.data(), w_scale.data(), w_sums.data(), n, nullptr, y.data());
  EXPECT_EQ(y[0], 0.f);
  EXPECT_EQ(y[1], 0.f);
  // Row 1: each x is within half a step (2 / levels) of its int8 value and the weights are
  // +-1, so the sums are within 4 half steps of the exact 1 - 2 + 3 - 4 and 1 + 2 + 3 + 4.
  EXPECT_NEAR(y[2], -2.f, 4 * 2.0 / int8_activation_levels() + 1e-5);
  EXPECT_NEAR(y[3], 10.f, 4 * 2.0 / int8_activation_levels() + 1e-5);
  EXPECT_NEAR(y[4], 2.f, 1e-5);  // 0.5 is exactly `levels` steps of 0.5 / levels
  EXPECT_NEAR(y[5], 0.f, 1e-5);
}

TEST(Int8Kernels, CachedPackedWeightsGiveTheUncachedResultsBitForBit) {
  // One cache serves a layer for every batch shape and, for a packed projection, every slice of
  // its rows: each (slice, shape) must find its own packed weights, never another's.
  Rng rng(9);
  const int64_t k = 64, n = 96, half = n / 2;
  const std::vector<float> w = random_floats(n * k, 0.1f, rng), bias = random_floats(n, 1.f, rng);
  std::vector<int8_t> w_q(w.size());
  std::vector<float> w_scale(static_cast<size_t>(n));
  std::vector<int32_t> w_sums(static_cast<size_t>(n));
  quantize_rows(w.data(), n, k, 127, w_q.data(), w_scale.data());
  int8_row_sums(w_q.data(), n, k, w_sums.data());
  PackedWeightCache cache;
  for (int round = 0; round < 2; ++round)  // the second round reuses every packed form
    for (int64_t m : {1, 17, 300, 17}) {
      const std::vector<float> x = random_floats(m * k, 1.f, rng);
      for (int64_t first : {int64_t{0}, half}) {
        const int64_t rows = first == 0 ? n : half;  // the whole matrix, then its second half
        std::vector<float> cached(size_t(m * rows)), fresh(size_t(m * rows));
        const size_t at = size_t(first);
        int8_linear(x.data(), m, k, w_q.data() + at * size_t(k), w_scale.data() + at, w_sums.data() + at,
                    rows, bias.data() + at, cached.data(), &cache);
        int8_linear(x.data(), m, k, w_q.data() + at * size_t(k), w_scale.data() + at, w_sums.data() + at,
                    rows, bias.data() + at, fresh.data());
        ASSERT_EQ(cached, fresh) << "m " << m << ", rows from " << first << ", round " << round;
      }
    }
}

}  // namespace
}  // namespace heed::kernels
