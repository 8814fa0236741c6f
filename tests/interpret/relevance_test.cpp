// Relevance methods against closed forms (hand-computed products, row sums, causal structure),
// and `explain` on a small ViT: its probabilities are predict's, its gradients the explained
// class's.
#include "heed/interpret/relevance.h"

#include <gtest/gtest.h>

#include <cmath>

#include "heed/core/rng.h"
#include "heed/interpret/explain.h"
#include "heed/nn/models/vit.h"
#include "heed/ops/ops.h"

namespace heed::interpret {
namespace {

// A random row-stochastic [H, T, T] (optionally lower-triangular: a causal layer).
Tensor stochastic(int64_t h, int64_t t, Rng& rng, bool causal = false) {
  Tensor a = Tensor::empty({h, t, t});
  for (int64_t row = 0; row < h * t; ++row) {
    const int64_t i = row % t;
    double sum = 0;
    for (int64_t j = 0; j < t; ++j) {
      float& x = a.f32()[row * t + j];
      x = causal && j > i ? 0.f : 0.05f + rng.uniform();
      sum += x;
    }
    for (int64_t j = 0; j < t; ++j) a.f32()[row * t + j] = float(a.f32()[row * t + j] / sum);
  }
  return a;
}

float at(const Tensor& m, int64_t i, int64_t j) { return m.f32()[i * m.size(1) + j]; }

TEST(Rollout, OneLayerIsHalfTheHeadMeanPlusHalfIdentity) {
  Rng rng(1);
  const Tensor a = stochastic(3, 5, rng);
  const Tensor r = rollout({a});
  for (int64_t i = 0; i < 5; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      double mean = 0;
      for (int64_t h = 0; h < 3; ++h) mean += a.f32()[(h * 5 + i) * 5 + j] / 3.0;
      EXPECT_NEAR(at(r, i, j), 0.5 * mean + (i == j ? 0.5 : 0.0), 1e-6);
    }
}

TEST(Rollout, TwoLayersMultiplyLaterOnTheLeftAndRowsSumToOne) {
  // One head, T = 2: A1 = [[1, 0], [0.5, 0.5]], A2 = [[0.2, 0.8], [0, 1]].
  Tensor a1 = Tensor::from_vector({1, 2, 2}, {1.f, 0.f, 0.5f, 0.5f});
  Tensor a2 = Tensor::from_vector({1, 2, 2}, {0.2f, 0.8f, 0.f, 1.f});
  // A'1 = [[1, 0], [0.25, 0.75]], A'2 = [[0.6, 0.4], [0, 1]]; R = A'2 A'1.
  const Tensor r = rollout({a1, a2});
  EXPECT_NEAR(at(r, 0, 0), 0.6 + 0.4 * 0.25, 1e-6);
  EXPECT_NEAR(at(r, 0, 1), 0.4 * 0.75, 1e-6);
  EXPECT_NEAR(at(r, 1, 0), 0.25, 1e-6);
  EXPECT_NEAR(at(r, 1, 1), 0.75, 1e-6);
  Rng rng(2);
  const Tensor deep = rollout({stochastic(4, 7, rng), stochastic(4, 7, rng), stochastic(4, 7, rng)});
  for (int64_t i = 0; i < 7; ++i) {
    double sum = 0;
    for (int64_t j = 0; j < 7; ++j) sum += at(deep, i, j);
    EXPECT_NEAR(sum, 1.0, 1e-5);
  }
}

TEST(Rollout, CausalLayersGiveZerosAboveTheDiagonal) {
  Rng rng(3);
  std::vector<Tensor> layers = {stochastic(2, 6, rng, true), stochastic(2, 6, rng, true)};
  const Tensor r = rollout(layers);
  std::vector<Tensor> grads = {Tensor::randn({2, 6, 6}, rng), Tensor::randn({2, 6, 6}, rng)};
  const Tensor g = gradient_rollout(layers, grads);
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = i + 1; j < 6; ++j) {
      EXPECT_EQ(at(r, i, j), 0.f);
      EXPECT_EQ(at(g, i, j), 0.f);
    }
}

TEST(GradientRollout, AccumulatesPositivePartOfGradientTimesAttention) {
  // Two heads, T = 2, one layer: Abar = mean_h(max(0, g * a)), R = I + Abar.
  Tensor a = Tensor::from_vector({2, 2, 2}, {0.5f, 0.5f, 0.1f, 0.9f, 0.3f, 0.7f, 1.f, 0.f});
  Tensor g = Tensor::from_vector({2, 2, 2}, {2.f, -1.f, 3.f, 1.f, 1.f, 1.f, -4.f, 5.f});
  // head 0: [[1, 0], [0.3, 0.9]]; head 1: [[0.3, 0.7], [0, 0]]; mean [[0.65, 0.35], [0.15, 0.45]]
  const Tensor r1 = gradient_rollout({a}, {g});
  EXPECT_NEAR(at(r1, 0, 0), 1.65, 1e-6);
  EXPECT_NEAR(at(r1, 0, 1), 0.35, 1e-6);
  EXPECT_NEAR(at(r1, 1, 0), 0.15, 1e-6);
  EXPECT_NEAR(at(r1, 1, 1), 1.45, 1e-6);
  // A second identical layer: R2 = R1 + Abar R1.
  const Tensor r2 = gradient_rollout({a, a}, {g, g});
  const double abar[2][2] = {{0.65, 0.35}, {0.15, 0.45}};
  const double r1v[2][2] = {{1.65, 0.35}, {0.15, 1.45}};
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j)
      EXPECT_NEAR(at(r2, i, j), r1v[i][j] + abar[i][0] * r1v[0][j] + abar[i][1] * r1v[1][j], 1e-6);
}

TEST(Relevance, RejectsMismatchedLayers) {
  Rng rng(4);
  EXPECT_THROW(rollout({}), Error);
  EXPECT_THROW(rollout({stochastic(2, 3, rng), stochastic(2, 4, rng)}), Error);
  EXPECT_THROW(gradient_rollout({stochastic(2, 3, rng)}, {}), Error);
  EXPECT_THROW(gradient_rollout({stochastic(2, 3, rng)}, {Tensor::zeros({2, 4, 4})}), Error);
}

nn::VitConfig small_vit() {
  nn::VitConfig c;
  c.image_height = c.image_width = 8;
  c.patch_size = 4;
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.num_classes = 3;
  return c;
}

TEST(Explain, LogitsArePredictsAndRelevanceHasOneRowPerToken) {
  nn::VisionTransformer model(small_vit(), 5);
  Rng rng(6);
  nn::Batch batch;
  batch.tensors["images"] = Tensor::randn({1, 1, 8, 8}, rng);
  model.eval();
  std::vector<float> plain;
  {
    NoGradGuard no_grad;
    plain = softmax(model.forward(batch).logits).value().to_vector();
  }
  const Explanation e = explain(model, batch);
  ASSERT_EQ(e.probabilities.size(), 3u);
  for (size_t k = 0; k < 3; ++k) EXPECT_NEAR(e.probabilities[k], plain[k], 1e-6);
  EXPECT_EQ(e.explained, e.predicted);
  ASSERT_EQ(e.attention.size(), 2u);
  EXPECT_EQ(e.attention[0].shape(), (Shape{2, 5, 5}));  // 4 patches + the class token
  EXPECT_EQ(e.rollout.shape(), (Shape{5, 5}));
  EXPECT_EQ(relevance_row(e.rollout, 0, 0).size(), 4u);
  for (auto& [name, p] : model.named_parameters()) EXPECT_FALSE(p->grad().defined()) << name;
  EXPECT_THROW(explain(model, batch, {.cls = 3}), Error);  // no class 3
  EXPECT_THROW(explain(model, batch, {.layer = 2}), Error);
  EXPECT_THROW(explain(model, batch, {.head = 2}), Error);
  // One layer's one head, as asked.
  const Explanation one = explain(model, batch, {.layer = 0, .head = 1});
  const std::vector<float> a = one.attention[0].to_vector(), raw = one.raw.to_vector();
  for (size_t x = 0; x < raw.size(); ++x) EXPECT_EQ(raw[x], a[25 + x]);
}

// The captured gradients themselves are checked against dO V^T and central differences in
// tests/ops/attention_capture_test.cpp; here, that explain asks for the right class's.
TEST(Explain, GradientsDependOnTheExplainedClass) {
  nn::VisionTransformer model(small_vit(), 7);
  Rng rng(8);
  nn::Batch batch;
  batch.tensors["images"] = Tensor::randn({1, 1, 8, 8}, rng);
  const Explanation e0 = explain(model, batch, {.cls = 0}), e1 = explain(model, batch, {.cls = 1});
  EXPECT_EQ(e0.attention[1].to_vector(), e1.attention[1].to_vector());
  EXPECT_NE(e0.gradients[1].to_vector(), e1.gradients[1].to_vector());
}

}  // namespace
}  // namespace heed::interpret
