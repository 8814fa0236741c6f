// Every differentiable op against central differences (see gradcheck.h).
#include <gtest/gtest.h>

#include <cmath>

#include "heed/core/rng.h"
#include "heed/ops/ops.h"
#include "ops/gradcheck.h"

namespace heed {
namespace {

using testing::check_gradients;

Tensor randn(const Shape& shape, uint64_t seed = 1) {
  Rng rng(seed);
  return Tensor::randn(shape, rng);
}

// Values bounded away from 0 (for relu's kink) by at least 0.1.
Tensor away_from_zero(const Shape& shape, uint64_t seed) {
  Tensor t = randn(shape, seed);
  for (float& v : t.f32_span()) v = v >= 0 ? v + 0.1f : v - 0.1f;
  return t;
}

#define EXPECT_GRADS(...) EXPECT_EQ(check_gradients(__VA_ARGS__), "")

TEST(GradCheck, Matmul) {
  EXPECT_GRADS([](auto& v) { return matmul(v[0], v[1]); }, {randn({2, 3, 4, 5}, 1), randn({2, 3, 5, 2}, 2)},
               {true, true});
  EXPECT_GRADS([](auto& v) { return matmul(v[0], v[1]); }, {randn({2, 3, 4}, 3), randn({4, 5}, 4)},
               {true, true});
}

TEST(GradCheck, Linear) {
  EXPECT_GRADS([](auto& v) { return linear(v[0], v[1], v[2]); },
               {randn({2, 3, 4}, 1), randn({5, 4}, 2), randn({5}, 3)}, {true, true, true});
  EXPECT_GRADS([](auto& v) { return linear(v[0], v[1]); }, {randn({3, 4}, 4), randn({2, 4}, 5)},
               {true, true});
}

TEST(GradCheck, BroadcastArithmetic) {
  EXPECT_GRADS([](auto& v) { return add(v[0], v[1]); }, {randn({2, 3, 4}, 1), randn({3, 1}, 2)},
               {true, true});
  EXPECT_GRADS([](auto& v) { return sub(v[0], v[1]); }, {randn({2, 1, 4}, 3), randn({3, 4}, 4)},
               {true, true});
  EXPECT_GRADS([](auto& v) { return mul(v[0], v[1]); }, {randn({2, 3, 4}, 5), randn({4}, 6)},
               {true, true});
  EXPECT_GRADS([](auto& v) { return mul(v[0], v[1]); }, {randn({3, 4}, 7), randn({3, 4}, 8)},
               {true, true});
  EXPECT_GRADS([](auto& v) { return scale(v[0], -0.7f); }, {randn({3, 4}, 9)}, {true});
  // An input used twice accumulates both contributions: d(x * x)/dx = 2x.
  EXPECT_GRADS([](auto& v) { return mul(v[0], v[0]); }, {randn({5}, 10)}, {true});
}

TEST(GradCheck, Activations) {
  EXPECT_GRADS([](auto& v) { return gelu(v[0]); }, {scale(Var(randn({4, 7}, 1)), 2.f).value()}, {true});
  EXPECT_GRADS([](auto& v) { return relu(v[0]); }, {away_from_zero({4, 7}, 2)}, {true});
  EXPECT_GRADS([](auto& v) { return tanh(v[0]); }, {randn({4, 7}, 3)}, {true});
}

TEST(GradCheck, SoftmaxFamily) {
  EXPECT_GRADS([](auto& v) { return softmax(v[0]); }, {randn({3, 2, 9}, 1)}, {true});
  EXPECT_GRADS([](auto& v) { return log_softmax(v[0]); }, {randn({3, 2, 9}, 2)}, {true});
}

TEST(GradCheck, LayerNorm) {
  Tensor w = randn({16}, 2), b = randn({16}, 3);
  EXPECT_GRADS([](auto& v) { return layer_norm(v[0], v[1], v[2]); }, {randn({2, 5, 16}, 1), w, b},
               {true, true, true});
}

TEST(GradCheck, Dropout) {
  EXPECT_GRADS([](auto& v) { return dropout(v[0], 0.3f, true, 99); }, {randn({4, 9}, 1)}, {true});
}

TEST(GradCheck, EmbeddingAccumulatesRepeatedRows) {
  Tensor ids = Tensor::from_indices({2, 4}, {1, 3, 3, 0, 3, 1, 2, 1});
  EXPECT_GRADS([ids](auto& v) { return embedding(ids, v[0]); }, {randn({5, 6}, 1)}, {true});
}

TEST(GradCheck, CrossEntropy) {
  Tensor targets = Tensor::from_indices({6}, {1, 4, -100, 0, 2, 3});
  CrossEntropyOptions opt;
  opt.label_smoothing = 0.1f;
  EXPECT_GRADS([&](auto& v) { return cross_entropy(v[0], targets, opt); }, {randn({6, 5}, 1)}, {true});
  EXPECT_GRADS([&](auto& v) { return cross_entropy(v[0], targets); }, {randn({6, 5}, 2)}, {true});
  CrossEntropyOptions weighted = opt;  // class weights, with and without smoothing
  weighted.weight = Tensor::from_vector({5}, {0.5f, 2.f, 1.f, 0.25f, 3.f});
  EXPECT_GRADS([&](auto& v) { return cross_entropy(v[0], targets, weighted); }, {randn({6, 5}, 3)}, {true});
  weighted.label_smoothing = 0.f;
  EXPECT_GRADS([&](auto& v) { return cross_entropy(v[0], targets, weighted); }, {randn({6, 5}, 4)}, {true});
}

TEST(GradCheck, LinearCrossEntropyInChunks) {
  // Chunks of 1, 3 and all 7 rows, an ignored row in the middle chunk: finite differences.
  Tensor targets = Tensor::from_indices({7}, {1, 4, -100, 0, 2, 3, 4});
  for (int64_t chunk : {1, 3, 7})
    EXPECT_GRADS([&](auto& v) { return linear_cross_entropy(v[0], v[1], targets, -100, chunk); },
                 {randn({7, 4}, 5), randn({5, 4}, 6)}, {true, true})
        << "chunk " << chunk;
  for (int64_t chunk : {3, 7})  // label smoothing (the tied output layers of the language models)
    EXPECT_GRADS([&](auto& v) { return linear_cross_entropy(v[0], v[1], targets, -100, chunk, 0.1f); },
                 {randn({7, 4}, 15), randn({5, 4}, 16)}, {true, true})
        << "smoothed, chunk " << chunk;
}

TEST(LinearCrossEntropy, EqualsTheComposedOpsAndKeepsNoLogits) {
  // Against cross_entropy(linear(x, w)): the loss and both gradients, to float rounding.
  Tensor targets = Tensor::from_indices({9}, {1, 4, -100, 0, 2, 3, 4, 4, 1});
  Tensor x = randn({9, 6}, 7), w = randn({5, 6}, 8);
  Var xa(x.clone(), true), wa(w.clone(), true), xb(x.clone(), true), wb(w.clone(), true);
  Var fused = linear_cross_entropy(xa, wa, targets, -100, 4);
  Var composed = cross_entropy(linear(xb, wb), targets);
  EXPECT_NEAR(fused.value().item(), composed.value().item(), 1e-6);
  fused.backward();
  composed.backward();
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(xa.grad().f32()[i], xb.grad().f32()[i], 1e-6) << i;
  for (int64_t i = 0; i < w.numel(); ++i) EXPECT_NEAR(wa.grad().f32()[i], wb.grad().f32()[i], 1e-6) << i;
  // With label smoothing, against cross_entropy's (itself checked against PyTorch's).
  Var xs(x.clone(), true), ws(w.clone(), true), xc(x.clone(), true), wc(w.clone(), true);
  CrossEntropyOptions smoothed;
  smoothed.label_smoothing = 0.2f;
  Var fused_s = linear_cross_entropy(xs, ws, targets, -100, 4, 0.2f);
  Var composed_s = cross_entropy(linear(xc, wc), targets, smoothed);
  EXPECT_NEAR(fused_s.value().item(), composed_s.value().item(), 1e-6);
  EXPECT_GT(std::abs(fused_s.value().item() - fused.value().item()), 1e-3) << "smoothing changes the loss";
  fused_s.backward();
  composed_s.backward();
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_NEAR(xs.grad().f32()[i], xc.grad().f32()[i], 1e-6) << i;
  for (int64_t i = 0; i < w.numel(); ++i) EXPECT_NEAR(ws.grad().f32()[i], wc.grad().f32()[i], 1e-6) << i;
  EXPECT_THROW(linear_cross_entropy(xa, wa, targets, -100, 4, 1.5f), Error);
  EXPECT_THROW(linear_cross_entropy(xa, wa, Tensor::from_indices({9}, {1, 4, 5, 0, 2, 3, 4, 4, 1})), Error);
  EXPECT_THROW(linear_cross_entropy(xa, Var(randn({5, 3}, 9)), targets), Error);
}

TEST(GradCheck, Reductions) {
  EXPECT_GRADS([](auto& v) { return sum(v[0]); }, {randn({3, 4}, 1)}, {true});
  EXPECT_GRADS([](auto& v) { return mean(v[0]); }, {randn({3, 4}, 2)}, {true});
  EXPECT_GRADS([](auto& v) { return sum(v[0], 1); }, {randn({3, 4, 5}, 3)}, {true});
  EXPECT_GRADS([](auto& v) { return mean(v[0], -1, true); }, {randn({3, 4, 5}, 4)}, {true});
}

TEST(GradCheck, LayoutOps) {
  EXPECT_GRADS([](auto& v) { return reshape(v[0], {6, -1}); }, {randn({2, 3, 4}, 1)}, {true});
  EXPECT_GRADS([](auto& v) { return permute(v[0], {2, 0, 1}); }, {randn({2, 3, 4}, 2)}, {true});
  EXPECT_GRADS([](auto& v) { return concat({v[0], v[1]}, 1); }, {randn({2, 3}, 3), randn({2, 5}, 4)},
               {true, true});
  EXPECT_GRADS([](auto& v) { return slice(v[0], 1, 1, 4); }, {randn({4, 6}, 5)}, {true});
  EXPECT_GRADS([](auto& v) { return patchify(v[0], 2); }, {randn({2, 3, 4, 6}, 6)}, {true});
}

TEST(GradCheck, ComposedTransformerBlockPieces) {
  // A small pre-norm MLP block with a residual: exercises graph fan-out and accumulation.
  EXPECT_GRADS(
      [](auto& v) {
        Var h = layer_norm(v[0], v[1], v[2]);
        Var y = linear(gelu(linear(h, v[3], v[4])), v[5]);
        return add(v[0], y);
      },
      {randn({3, 8}, 1), randn({8}, 2), randn({8}, 3), randn({12, 8}, 4), randn({12}, 5),
       scale(Var(randn({8, 12}, 6)), 0.3f).value()},
      {true, true, true, true, true, true});
}

TEST(GradCheck, CheckerCatchesAnOverwritingBackward) {
  // A deliberately wrong op that assigns instead of accumulating must fail the checker.
  auto overwriting = [](const std::vector<Var>& v) {
    Tensor y = v[0].value().clone();
    return make_result(y, "bad_identity", {&v[0]}, [](const Tensor& gy, std::span<Tensor* const> gx) {
      gx[0]->copy_(gy);
    });
  };
  EXPECT_NE(check_gradients(overwriting, {randn({4}, 1)}, {true}), "");
  auto forgetting = [](const std::vector<Var>& v) {
    return make_result(v[0].value().clone(), "bad_identity", {&v[0]},
                       [](const Tensor&, std::span<Tensor* const>) {});
  };
  EXPECT_NE(check_gradients(forgetting, {randn({4}, 1)}, {true}), "");
}

}  // namespace
}  // namespace heed
