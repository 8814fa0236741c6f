// Op behaviour beyond gradients: closed-form values, masking, errors, determinism.
#include <gtest/gtest.h>
#include <omp.h>

#include <cmath>
#include <limits>

#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/ops/ops.h"

namespace heed {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Ops, SoftmaxClosedFormAndMaskedRows) {
  // Row 0: softmax([0, ln 3]) = [1/4, 3/4]; row 1: one unmasked entry -> [0, 1];
  // row 2: fully masked -> zeros, not NaN.
  Var x(Tensor::from_vector({3, 2}, {0.f, std::log(3.f), -kInf, 5.f, -kInf, -kInf}), true);
  Var y = softmax(x);
  std::vector<float> v = y.value().to_vector();
  EXPECT_NEAR(v[0], 0.25f, 1e-7);
  EXPECT_NEAR(v[1], 0.75f, 1e-7);
  EXPECT_EQ(v[2], 0.f);
  EXPECT_EQ(v[3], 1.f);
  EXPECT_EQ(v[4], 0.f);
  EXPECT_EQ(v[5], 0.f);
  // dx = y * (dy - <dy, y>): row 0 <dy, y> = 1.75, so [-0.1875, 0.1875]; the masked entry of
  // row 1 and the whole masked row 2 get exactly 0.
  y.backward(Tensor::from_vector({3, 2}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f}));
  const std::vector<float> g = x.grad().to_vector();
  EXPECT_NEAR(g[0], -0.1875f, 1e-7);
  EXPECT_NEAR(g[1], 0.1875f, 1e-7);
  for (size_t i = 2; i < 6; ++i) EXPECT_EQ(g[i], 0.f) << i;
  // Large logits: subtracting the row max keeps exp() finite.
  Var big(Tensor::from_vector({1, 2}, {1000.f, 1000.f}));
  EXPECT_EQ(softmax(big).value().to_vector(), (std::vector<float>{0.5f, 0.5f}));
}

TEST(Ops, LogSoftmaxOfMaskedRowIsMinusInfinityNotNaN) {
  Var x(Tensor::from_vector({1, 2}, {-kInf, -kInf}));
  for (float v : log_softmax(x).value().to_vector()) EXPECT_EQ(v, -kInf);
}

TEST(Ops, LayerNormClosedForm) {
  // x = [1, 2, 3, 4]: mean 2.5, variance 1.25.
  Var x(Tensor::from_vector({1, 4}, {1, 2, 3, 4}));
  Var w(Tensor::full({4}, 2.f)), b(Tensor::full({4}, 1.f));
  std::vector<float> y = layer_norm(x, w, b, 1e-5f).value().to_vector();
  const double rstd = 1.0 / std::sqrt(1.25 + 1e-5);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y[size_t(i)], 2.0 * (i + 1 - 2.5) * rstd + 1.0, 1e-6);
}

TEST(Ops, LayerNormLargeMeanAndConstantRows) {
  // Row 0: 10000 + [-1, 0, 1, 0]: mean 10000, variance 0.5 exactly. A one-pass E[x^2] - E[x]^2
  // in float (x^2 ~ 1e8, whose spacing is 8) loses the variance entirely; two passes keep it.
  // Row 1: constant, variance 0: y = b exactly, which needs eps (1 / sqrt(0) is inf, 0 * inf NaN).
  Var x(Tensor::from_vector({2, 4}, {9999, 10000, 10001, 10000, 7, 7, 7, 7}), true);
  Var w(Tensor::from_vector({4}, {1.f, 2.f, 3.f, 4.f}), true), b(Tensor::from_vector({4}, {0.5f, -1.f, 0.f, 2.f}), true);
  Var y = layer_norm(x, w, b, 1e-5f);
  const std::vector<float> v = y.value().to_vector();
  const double rstd = 1.0 / std::sqrt(0.5 + 1e-5);
  const double want[4] = {-1 * rstd * 1 + 0.5, 0 - 1.0, 1 * rstd * 3 + 0.0, 0 + 2.0};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(v[size_t(i)], want[i], 2e-6) << i;
  for (int i = 0; i < 4; ++i) EXPECT_EQ(v[size_t(4 + i)], b.value().f32()[i]) << i;
  // The constant row's input gradient is rstd * (g - mean(g)) with xhat = 0: finite.
  y.backward(Tensor::full({2, 4}, 1.f));
  for (float g : x.grad().to_vector()) EXPECT_TRUE(std::isfinite(g));
  const double r1 = 1.0 / std::sqrt(1e-5);  // row 1: g = w, mean(g) = 2.5
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(x.grad().f32()[4 + i], r1 * (i + 1 - 2.5), 1e-3 * r1) << i;
}

TEST(Ops, CrossEntropyClosedFormAndIgnoredRows) {
  // Uniform logits over 4 classes: loss = ln 4 for every counted row; the ignored row adds nothing.
  Var logits(Tensor::zeros({3, 4}), true);
  Var loss = cross_entropy(logits, Tensor::from_indices({3}, {1, -100, 3}));
  EXPECT_NEAR(loss.value().item(), std::log(4.0), 1e-6);
  loss.backward();
  std::vector<float> g = logits.grad().to_vector();
  EXPECT_NEAR(g[0], 0.25 / 2, 1e-7);        // (p - 0) / count
  EXPECT_NEAR(g[1], (0.25 - 1) / 2, 1e-7);  // (p - 1) / count
  for (int c = 4; c < 8; ++c) EXPECT_EQ(g[size_t(c)], 0.f);  // ignored row
  EXPECT_NE(error_of([&] { cross_entropy(logits, Tensor::from_indices({3}, {1, 7, 0})); })
                .find("target 7 at row 1"),
            std::string::npos);
}

TEST(Ops, ErrorsNameTheOpAndBothShapes) {
  Var a(Tensor::zeros({2, 3})), b(Tensor::zeros({4, 5}));
  std::string m = error_of([&] { matmul(a, b); });
  EXPECT_NE(m.find("matmul"), std::string::npos) << m;
  EXPECT_NE(m.find("f32[2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("f32[4, 5]"), std::string::npos) << m;
  m = error_of([&] { add(a, b); });
  EXPECT_NE(m.find("add: shapes [2, 3] and [4, 5] do not broadcast"), std::string::npos) << m;
  m = error_of([&] { linear(a, b); });
  EXPECT_NE(m.find("linear"), std::string::npos) << m;
  m = error_of([&] { embedding(Tensor::from_indices({2}, {0, 9}), a); });
  EXPECT_NE(m.find("id 9"), std::string::npos) << m;
  m = error_of([&] { patchify(Var(Tensor::zeros({1, 1, 6, 6})), 4); });
  EXPECT_NE(m.find("patch size 4 does not divide the image size 6x6"), std::string::npos) << m;
  m = error_of([&] { layer_norm(a, Var(Tensor::zeros({2})), Var(Tensor::zeros({3}))); });
  EXPECT_NE(m.find("layer_norm"), std::string::npos) << m;
}

TEST(Ops, DropoutKeepsExpectationAndIsThreadCountIndependent) {
  Rng rng(3);
  Var x(Tensor::full({200000}, 1.f));
  const int before = num_threads();
  set_num_threads(1);
  std::vector<float> one = dropout(x, 0.25f, true, 77).value().to_vector();
  set_num_threads(2);
  std::vector<float> two = dropout(x, 0.25f, true, 77).value().to_vector();
  set_num_threads(before);
  EXPECT_EQ(one, two);
  double total = 0;
  int64_t zeros = 0;
  for (float v : one) {
    total += v;
    zeros += v == 0.f;
    EXPECT_TRUE(v == 0.f || std::abs(v - 1.f / 0.75f) < 1e-6);
  }
  EXPECT_NEAR(double(zeros) / 200000, 0.25, 0.005);
  EXPECT_NEAR(total / 200000, 1.0, 0.01);  // inverted dropout keeps the mean
  EXPECT_EQ(dropout(x, 0.25f, false, 77).value().to_vector()[0], 1.f);  // eval: identity
  EXPECT_NE(dropout(x, 0.25f, true, 78).value().to_vector(), one);    // new seed, new mask
}

TEST(Ops, SameSeedSameThreadsGivesBitIdenticalTrainingStep) {
  auto step = [] {
    Rng rng(11);
    Var x(Tensor::randn({64, 32}, rng)), w(Tensor::randn({16, 32}, rng), true);
    Var ln_w(Tensor::full({16}, 1.f), true), ln_b(Tensor::zeros({16}), true);
    Tensor t = Tensor::empty({64}, DType::I64);
    for (int64_t i = 0; i < 64; ++i) t.i64()[i] = int64_t(rng.below(16));
    Var h = layer_norm(dropout(gelu(linear(x, w)), 0.1f, true, 5), ln_w, ln_b);
    Var loss = cross_entropy(h, t);
    loss.backward();
    std::vector<float> out = w.grad().to_vector();
    out.push_back(loss.value().item());
    for (float g : ln_w.grad().to_vector()) out.push_back(g);
    return out;
  };
  EXPECT_EQ(step(), step());
}

TEST(Ops, MatmulAgainstNaiveLoops) {
  Rng rng(5);
  Tensor a = Tensor::randn({3, 7, 5}, rng), b = Tensor::randn({3, 5, 4}, rng);
  std::vector<float> c = matmul(Var(a), Var(b)).value().to_vector();
  for (int64_t n = 0; n < 3; ++n)
    for (int64_t i = 0; i < 7; ++i)
      for (int64_t j = 0; j < 4; ++j) {
        double s = 0;
        for (int64_t k = 0; k < 5; ++k) s += double(a.at({n, i, k})) * b.at({n, k, j});
        EXPECT_NEAR(c[size_t((n * 7 + i) * 4 + j)], s, 1e-5);
      }
}

}  // namespace
}  // namespace heed
