// Attention capture on the fused kernel (what `heed explain` reads): the probabilities
// recomputed from the saved logsumexp against the composed reference's softmax, the output left
// bit-identical, and dLoss/dP against its closed form dO V^T and against central differences of
// the loss in the logits.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <memory>

#include "heed/core/rng.h"
#include "heed/ops/attention.h"
#include "heed/ops/ops.h"
#include "test_util.h"

namespace heed {
namespace {

struct CaptureCase {
  int64_t b, h, tq, tk, d;
  bool padding, causal;
  int64_t window;
};

std::string describe(const CaptureCase& c) {
  return "B=" + std::to_string(c.b) + " H=" + std::to_string(c.h) + " Tq=" + std::to_string(c.tq) +
         " Tk=" + std::to_string(c.tk) + " D=" + std::to_string(c.d) +
         (c.padding ? " padding" : "") + (c.causal ? " causal" : "") +
         (c.window ? " window=" + std::to_string(c.window) : "");
}

// Shapes within one tile and across several (tiles are 128 x 128), every structural mask, and
// a padded row of length 0 (fully masked: zeros).
const CaptureCase kCases[] = {
    {2, 3, 5, 5, 4, false, false, 0},  {2, 2, 17, 17, 16, true, false, 0},
    {2, 2, 9, 13, 8, true, true, 0},   {2, 1, 150, 150, 8, true, true, 0},
    {1, 2, 130, 260, 16, false, false, 7}, {3, 2, 40, 40, 8, true, false, 5},
};

AttentionOptions options_for(const CaptureCase& c) {
  AttentionOptions o;
  if (c.padding) {
    o.key_lengths = Tensor::empty({c.b}, DType::I64);
    for (int64_t i = 0; i < c.b; ++i) o.key_lengths.i64()[i] = i == 0 ? 0 : c.tk - 3 * i;
  }
  o.causal = c.causal;
  o.window = c.window;
  return o;
}

class AttentionCaptureTest : public ::testing::TestWithParam<CaptureCase> {
 protected:
  // Random q, k, v of the case's shapes, drawn from `rng` in that order.
  void draw(Rng& rng) {
    const CaptureCase c = GetParam();
    q = Tensor::randn({c.b, c.h, c.tq, c.d}, rng);
    k = Tensor::randn({c.b, c.h, c.tk, c.d}, rng);
    v = Tensor::randn({c.b, c.h, c.tk, c.d}, rng);
  }
  Tensor q, k, v;
};

TEST_P(AttentionCaptureTest, ProbabilitiesMatchReferenceAndOutputIsUnchanged) {
  const CaptureCase c = GetParam();
  Rng rng(11);
  draw(rng);
  AttentionOptions o = options_for(c);
  const std::vector<float> plain = attention_fused(Var(q), Var(k), Var(v), o).value().to_vector();
  o.capture = std::make_shared<AttentionCapture>();
  const std::vector<float> captured = attention_fused(Var(q), Var(k), Var(v), o).value().to_vector();
  EXPECT_EQ(plain, captured) << describe(c) << ": capture changed the output";

  Tensor want;
  (void)attention_reference(Var(q), Var(k), Var(v), options_for(c), &want);
  const Tensor& got = o.capture->probabilities;
  ASSERT_EQ(got.shape(), want.shape()) << describe(c);
  const std::vector<float> g = got.to_vector(), w = want.to_vector();
  test::report_errors("capture " + describe(c), g, w);
  EXPECT_TRUE(test::all_close(g, w, 1e-6, 1e-5)) << describe(c);
  // Rows sum to 1, or are all zero where every key is masked (the sequence of length 0; rows
  // whose window holds padding only), and masked entries are exactly zero.
  for (int64_t row = 0; row < c.b * c.h * c.tq; ++row) {
    const int64_t batch = row / (c.h * c.tq), pos = row % c.tq + c.tk - c.tq;
    const int64_t length = c.padding ? o.key_lengths.i64()[batch] : c.tk;
    double sum = 0;
    bool any_visible = false;
    for (int64_t j = 0; j < c.tk; ++j) {
      const bool visible = j < length && (!c.causal || j <= pos) &&
                           (c.window == 0 || (j > pos - c.window && (c.causal || j < pos + c.window)));
      any_visible = any_visible || visible;
      if (!visible) {
        EXPECT_EQ(g[size_t(row * c.tk + j)], 0.f) << describe(c) << " row " << row;
      }
      sum += g[size_t(row * c.tk + j)];
    }
    EXPECT_NEAR(sum, any_visible ? 1.0 : 0.0, 1e-5) << describe(c) << " row " << row;
  }
}

TEST_P(AttentionCaptureTest, GradientIsOutputGradientTimesValuesAndMatchesCentralDifferences) {
  const CaptureCase c = GetParam();
  Rng rng(12);
  draw(rng);
  const Tensor proj = Tensor::randn({c.b, c.h, c.tq, c.d}, rng);  // L = sum(proj * out)
  AttentionOptions o = options_for(c);
  o.capture = std::make_shared<AttentionCapture>();
  o.capture->want_gradient = true;
  Var qv(q, true);
  attention_fused(qv, Var(k), Var(v), o).backward(proj);
  const Tensor& grad = o.capture->gradient;
  ASSERT_EQ(grad.shape(), (Shape{c.b, c.h, c.tq, c.tk})) << describe(c);

  // Closed form: out = P V, so dL/dP[i][j] = sum_e proj[i][e] V[j][e].
  std::vector<float> want(size_t(grad.numel()));
  for (int64_t bh = 0; bh < c.b * c.h; ++bh)
    for (int64_t i = 0; i < c.tq; ++i)
      for (int64_t j = 0; j < c.tk; ++j) {
        double s = 0;
        for (int64_t e = 0; e < c.d; ++e)
          s += double(proj.f32()[(bh * c.tq + i) * c.d + e]) * double(v.f32()[(bh * c.tk + j) * c.d + e]);
        want[size_t((bh * c.tq + i) * c.tk + j)] = float(s);
      }
  const std::vector<float> got = grad.to_vector();
  test::report_errors("capture gradient " + describe(c), got, want);
  EXPECT_TRUE(test::all_close(got, want, 1e-5, 1e-5)) << describe(c);

  // Central differences of L in the logit s_ij (an additive mask entry): dL/ds_ij =
  // P_ij (G_ij - sum_k P_ik G_ik), from the captured P and G alone.
  const std::vector<float> p = o.capture->probabilities.to_vector();
  auto loss_with_logit_offset = [&](int64_t flat, double offset) {
    AttentionOptions shifted = options_for(c);
    shifted.mask = Tensor::zeros({c.b, c.h, c.tq, c.tk});
    shifted.mask.f32()[flat] = float(offset);
    const std::vector<float> out = attention_fused(Var(q), Var(k), Var(v), shifted).value().to_vector();
    double l = 0;
    for (size_t x = 0; x < out.size(); ++x) l += double(out[x]) * double(proj.f32()[x]);
    return l;
  };
  Rng pick(13);
  int checked = 0;
  for (int trial = 0; trial < 60 && checked < 12; ++trial) {
    const int64_t flat = int64_t(pick.below(uint64_t(grad.numel())));
    if (p[size_t(flat)] < 1e-3f) continue;  // masked or negligible: nothing to resolve
    const int64_t row = flat / c.tk;
    double delta = 0;
    for (int64_t j = 0; j < c.tk; ++j)
      delta += double(p[size_t(row * c.tk + j)]) * double(got[size_t(row * c.tk + j)]);
    const double analytic = double(p[size_t(flat)]) * (double(got[size_t(flat)]) - delta);
    const double h = 1e-2;
    const double numeric = (loss_with_logit_offset(flat, h) - loss_with_logit_offset(flat, -h)) / (2 * h);
    EXPECT_NEAR(analytic, numeric, 2e-3 + 2e-3 * std::abs(numeric))
        << describe(c) << " logit " << flat;
    ++checked;
  }
  EXPECT_GE(checked, 6) << describe(c);
}

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionCaptureTest, ::testing::ValuesIn(kCases));

}  // namespace
}  // namespace heed
