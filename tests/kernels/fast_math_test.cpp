#include "heed/kernels/fast_math.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace heed::kernels {
namespace {

TEST(FastMath, ExpMatchesStdWithinTwoUlpsOverTheUsefulRange) {
  double worst = 0;
  for (float x = -87.0f; x < 88.0f; x += 0.0137f) {
    const double want = std::exp(double(x));
    worst = std::max(worst, std::abs(exp_approx(x) - want) / want);
  }
  EXPECT_LT(worst, 2.5e-7);
  EXPECT_EQ(exp_approx(0.f), 1.f);
  EXPECT_EQ(exp_approx(-std::numeric_limits<float>::infinity()), 0.f);  // masked logits
  EXPECT_EQ(exp_approx(-1000.f), 0.f);
  EXPECT_TRUE(std::isinf(exp_approx(1000.f)));
}

TEST(FastMath, ErfAndTanhAbsoluteErrorBelowHalfAMillionth) {
  double worst_erf = 0, worst_tanh = 0;
  for (float x = -9.f; x < 9.f; x += 0.001f) {
    worst_erf = std::max(worst_erf, std::abs(double(erf_approx(x)) - std::erf(double(x))));
    worst_tanh = std::max(worst_tanh, std::abs(double(tanh_approx(x)) - std::tanh(double(x))));
  }
  EXPECT_LT(worst_erf, 5e-7);
  EXPECT_LT(worst_tanh, 2e-7);
  EXPECT_EQ(tanh_approx(100.f), 1.f);
  EXPECT_EQ(tanh_approx(-100.f), -1.f);
}

}  // namespace
}  // namespace heed::kernels
