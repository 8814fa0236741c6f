// Fused attention against the composed reference (forward and every gradient), against closed
// forms and central differences, with every mask option; plus masked rows and determinism.
#include "heed/ops/attention.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "heed/core/parallel.h"
#include "heed/core/rng.h"
#include "heed/ops/ops.h"
#include "ops/gradcheck.h"

namespace heed {
namespace {

struct Case {
  int64_t b, h, tq, tk, d;
  const char* masks;  // letters: p padding, c causal, w window, a additive, m boolean, d dropout
};

std::string describe(const Case& c) {
  return "B=" + std::to_string(c.b) + " H=" + std::to_string(c.h) + " Tq=" + std::to_string(c.tq) +
         " Tk=" + std::to_string(c.tk) + " D=" + std::to_string(c.d) + " masks=" + c.masks;
}

AttentionOptions options_for(const Case& c, Rng& rng) {
  AttentionOptions o;
  const std::string m = c.masks;
  if (m.find('p') != std::string::npos) {
    o.key_lengths = Tensor::empty({c.b}, DType::I64);
    for (int64_t i = 0; i < c.b; ++i) o.key_lengths.i64()[i] = int64_t(rng.below(uint64_t(c.tk) + 1));
  }
  o.causal = m.find('c') != std::string::npos;
  if (m.find('w') != std::string::npos) o.window = 1 + int64_t(rng.below(uint64_t(c.tk)));
  if (m.find('a') != std::string::npos) {
    o.mask = Tensor::randn({c.b, 1, c.tq, c.tk}, rng);
    for (float& x : o.mask.f32_span())
      if (rng.uniform() < 0.1f) x = -std::numeric_limits<float>::infinity();
  }
  if (m.find('m') != std::string::npos) {
    o.mask = Tensor::empty({c.b, c.h, c.tq, c.tk}, DType::I64);
    for (int64_t i = 0; i < o.mask.numel(); ++i) o.mask.i64()[i] = rng.uniform() < 0.8f;
  }
  if (m.find('d') != std::string::npos) {
    o.dropout = 0.2f;
    o.training = true;
    o.seed = 42;
  }
  return o;
}

double max_excess(const Tensor& got, const Tensor& want, double atol, double rtol) {
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  double worst = 0;
  for (size_t i = 0; i < g.size(); ++i) {
    if (std::isnan(g[i]) || std::isnan(w[i])) return INFINITY;
    worst = std::max(worst, std::abs(double(g[i]) - w[i]) - atol - rtol * std::abs(double(w[i])));
  }
  return worst;
}

class FusedVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(FusedVsReference, ForwardAndGradientsAgree) {
  const Case c = GetParam();
  Rng rng(uint64_t(c.b * 1000003 + c.tq * 101 + c.tk * 7 + c.d));
  const AttentionOptions o = options_for(c, rng);
  const Tensor q = Tensor::randn({c.b, c.h, c.tq, c.d}, rng), k = Tensor::randn({c.b, c.h, c.tk, c.d}, rng);
  const Tensor v = Tensor::randn({c.b, c.h, c.tk, c.d}, rng), dout = Tensor::randn({c.b, c.h, c.tq, c.d}, rng);
  Var qr(q, true), kr(k, true), vr(v, true), qf(q, true), kf(k, true), vf(v, true);
  Var ref = attention_reference(qr, kr, vr, o), fused = attention_fused(qf, kf, vf, o);
  EXPECT_LE(max_excess(fused.value(), ref.value(), 2e-5, 1e-4), 0) << describe(c) << " output";
  ref.backward(dout);
  fused.backward(dout);
  EXPECT_LE(max_excess(qf.grad(), qr.grad(), 5e-5, 1e-3), 0) << describe(c) << " dq";
  EXPECT_LE(max_excess(kf.grad(), kr.grad(), 5e-5, 1e-3), 0) << describe(c) << " dk";
  EXPECT_LE(max_excess(vf.grad(), vr.grad(), 5e-5, 1e-3), 0) << describe(c) << " dv";
}

INSTANTIATE_TEST_SUITE_P(
    Grid, FusedVsReference,
    ::testing::Values(Case{1, 1, 1, 1, 16, ""}, Case{2, 3, 7, 7, 32, ""}, Case{1, 2, 129, 129, 64, ""},
                      Case{2, 2, 7, 129, 16, ""}, Case{1, 1, 130, 65, 128, ""},
                      Case{3, 2, 70, 70, 16, "p"}, Case{1, 2, 129, 129, 32, "c"},
                      Case{2, 1, 65, 200, 64, "c"}, Case{1, 1, 200, 200, 16, "w"},
                      Case{1, 2, 150, 150, 32, "cw"}, Case{2, 2, 33, 47, 16, "a"},
                      Case{2, 2, 33, 33, 48, "m"}, Case{2, 2, 70, 70, 32, "pcd"},
                      Case{2, 1, 100, 100, 16, "d"}, Case{3, 2, 66, 66, 16, "pca"},
                      Case{1, 1, 1000, 1000, 64, "c"}, Case{2, 2, 19, 23, 40, "p"},
                      Case{1, 3, 140, 140, 24, "c"}, Case{2, 1, 17, 17, 100, "d"}),
    [](const ::testing::TestParamInfo<Case>& param) {
      const Case& c = param.param;
      return "B" + std::to_string(c.b) + "H" + std::to_string(c.h) + "Tq" + std::to_string(c.tq) +
             "Tk" + std::to_string(c.tk) + "D" + std::to_string(c.d) + "_" +
             (c.masks[0] ? c.masks : "none");
    });

TEST(Attention, ScaleIsOneOverSqrtHeadDim) {
  // One query q = [a, 0, 0, 0] against keys [1, 0, 0, 0] and 0: logits a / sqrt(4) and 0, so
  // the weight of key 0 is sigmoid(a / 2) and the output is that weight times v0 plus the rest.
  const float a = 3.f;
  Var q(Tensor::from_vector({1, 1, 1, 4}, {a, 0, 0, 0}));
  Var k(Tensor::from_vector({1, 1, 2, 4}, {1, 0, 0, 0, 0, 0, 0, 0}));
  Var v(Tensor::from_vector({1, 1, 2, 4}, {1, 0, 0, 0, 0, 1, 0, 0}));
  const double w0 = 1.0 / (1.0 + std::exp(-a / 2.0));
  for (const Var& out : {attention_fused(q, k, v, {}), attention_reference(q, k, v, {})}) {
    const std::vector<float> o = out.value().to_vector();
    EXPECT_NEAR(o[0], w0, 1e-6);
    EXPECT_NEAR(o[1], 1.0 - w0, 1e-6);
  }
}

TEST(Attention, FullyMaskedRowsGiveZerosAndNoNaN) {
  Rng rng(3);
  AttentionOptions o;
  o.key_lengths = Tensor::from_indices({2}, {0, 5});  // batch 0 has no keys at all
  Var q(Tensor::randn({2, 2, 9, 16}, rng), true), k(Tensor::randn({2, 2, 9, 16}, rng), true);
  Var v(Tensor::randn({2, 2, 9, 16}, rng), true);
  Var out = attention_fused(q, k, v, o);
  const std::vector<float> y = out.value().to_vector();
  for (size_t i = 0; i < y.size() / 2; ++i) EXPECT_EQ(y[i], 0.f);
  out.backward(Tensor::randn(out.shape(), rng));
  for (const Var* x : {&q, &k, &v})
    for (float g : x->grad().to_vector()) ASSERT_FALSE(std::isnan(g));
  // Keys at padded positions get no gradient.
  EXPECT_EQ(k.grad().at({1, 0, 7, 3}), 0.f);
  EXPECT_EQ(v.grad().at({1, 1, 8, 0}), 0.f);
}

TEST(Attention, FusedPassesTheGradientChecker) {
  Rng rng(9);
  AttentionOptions o;
  o.key_lengths = Tensor::from_indices({2}, {5, 3});
  o.causal = true;
  auto op = [&o](const std::vector<Var>& v) { return attention_fused(v[0], v[1], v[2], o); };
  EXPECT_EQ(testing::check_gradients(op, {Tensor::randn({2, 2, 4, 8}, rng), Tensor::randn({2, 2, 6, 8}, rng),
                                          Tensor::randn({2, 2, 6, 8}, rng)},
                                     {true, true, true}),
            "");
}

TEST(Attention, BitIdenticalForSameInputsAndThreads) {
  Rng rng(4);
  const Tensor q = Tensor::randn({1, 2, 300, 32}, rng), k = Tensor::randn({1, 2, 300, 32}, rng);
  const Tensor v = Tensor::randn({1, 2, 300, 32}, rng), g = Tensor::randn({1, 2, 300, 32}, rng);
  auto run = [&] {
    Var qv(q, true), kv(k, true), vv(v, true);
    AttentionOptions o;
    o.causal = true;
    Var out = attention_fused(qv, kv, vv, o);
    out.backward(g);
    std::vector<float> all = out.value().to_vector();
    for (const Var* x : {&qv, &kv, &vv}) {
      const std::vector<float> gr = x->grad().to_vector();
      all.insert(all.end(), gr.begin(), gr.end());
    }
    return all;
  };
  EXPECT_EQ(run(), run());
}

TEST(Attention, BadShapesAndOptionsAreNamed) {
  Var q(Tensor::zeros({1, 2, 3, 8})), k(Tensor::zeros({1, 2, 4, 4}));
  try {
    attention_fused(q, k, k, {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("f32[1, 2, 4, 4]"), std::string::npos) << e.what();
  }
  AttentionOptions o;
  o.key_lengths = Tensor::from_indices({1}, {9});
  Var k8(Tensor::zeros({1, 2, 4, 8}));
  EXPECT_THROW(attention_fused(q, k8, k8, o), Error);
  o = {};
  o.mask = Tensor::zeros({2, 2});
  EXPECT_THROW(attention_reference(q, k8, k8, o), Error);
}

}  // namespace
}  // namespace heed
