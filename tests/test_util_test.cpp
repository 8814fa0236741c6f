// The suite's comparators must fail on NaN and on a misplaced infinity: a comparison written as
// `excess > worst` is false for NaN and lets it through (it did, in the op golden test).
#include "test_util.h"

#include <gtest/gtest.h>

#include <limits>
#include <vector>

#include "heed/autograd/variable.h"
#include "heed/core/rng.h"
#include "heed/ops/ops.h"
#include "ops/gradcheck.h"

namespace heed {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

TEST(Comparators, AllCloseFailsOnNaNAndMisplacedInfinity) {
  using V = std::vector<float>;
  EXPECT_TRUE(test::all_close(V{1.f, 2.f}, V{1.f, 2.f}, 0, 0));
  EXPECT_TRUE(test::all_close(V{1.f, -kInf}, V{1.f, -kInf}, 0, 0));  // a masked entry matches
  EXPECT_FALSE(test::all_close(V{kNaN}, V{0.f}, 1e9, 1e9));
  EXPECT_FALSE(test::all_close(V{0.f}, V{kNaN}, 1e9, 1e9));
  EXPECT_FALSE(test::all_close(V{kNaN}, V{kNaN}, 1e9, 1e9));  // NaN never "matches"
  EXPECT_FALSE(test::all_close(V{kInf}, V{1.f}, 1e9, 1e9));
  EXPECT_FALSE(test::all_close(V{-kInf}, V{kInf}, 1e9, 1e9));
  EXPECT_FALSE(test::all_close(V{1.f}, V{1.f, 2.f}, 1e9, 1e9));  // sizes
  EXPECT_FALSE(test::all_close(V{1.001f}, V{1.f}, 1e-4, 1e-4));
  EXPECT_TRUE(test::all_close(V{1.0001f}, V{1.f}, 1e-4, 1e-4));
}

TEST(Comparators, GradientCheckerFailsOnANaNGradient) {
  // An "op" whose backward writes NaN: the checker must report it, not pass it.
  auto nan_grad = [](const std::vector<Var>& v) {
    return make_result(v[0].value().clone(), "nan_grad", {&v[0]},
                       [](const Tensor&, std::span<Tensor* const> gx) {
                         for (float& g : gx[0]->f32_span()) g = kNaN;
                       });
  };
  Rng rng(1);
  EXPECT_NE(testing::check_gradients(nan_grad, {Tensor::randn({3}, rng)}, {true}), "");
  // A correct op passes, so the failure above is about the NaN.
  auto identity = [](const std::vector<Var>& v) { return scale(v[0], 1.f); };
  EXPECT_EQ(testing::check_gradients(identity, {Tensor::randn({3}, rng)}, {true}), "");
}

}  // namespace
}  // namespace heed
