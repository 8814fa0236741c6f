#include "heed/autograd/variable.h"

#include <gtest/gtest.h>

#include "heed/ops/ops.h"

namespace heed {
namespace {

TEST(Autograd, ChainRuleOnAClosedForm) {
  // L = sum((a * b + a)) -> dL/da = b + 1, dL/db = a
  Var a(Tensor::from_vector({3}, {1, 2, 3}), true), b(Tensor::from_vector({3}, {4, 5, 6}), true);
  sum(add(mul(a, b), a)).backward();
  EXPECT_EQ(a.grad().to_vector(), (std::vector<float>{5, 6, 7}));
  EXPECT_EQ(b.grad().to_vector(), (std::vector<float>{1, 2, 3}));
}

TEST(Autograd, AddHandsItsGradientToOneOperandWithoutCopying) {
  // add gives dy itself to one operand whose gradient is new (FreshGrad::kUndefined); these
  // graphs would give wrong answers if two gradients ended up sharing that buffer.
  Var x(Tensor::from_vector({2}, {1, 2}), true), y(Tensor::from_vector({2}, {3, 4}), true);
  sum(add(x, x)).backward();  // the same Var twice: 2
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 2}));
  x.zero_grad();
  sum(sub(x, x)).backward();  // 0
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{0, 0}));
  x.zero_grad();
  // z = (x + y) * y + (x + y): d/dx = y + 1, d/dy = x + 2y + 1.
  const Var s = add(x, y);
  sum(add(mul(s, y), s)).backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{4, 5}));
  EXPECT_EQ(y.grad().to_vector(), (std::vector<float>{8, 11}));
  // The leaf gradients are separate buffers: changing one leaves the other alone.
  x.grad().f32()[0] = 100.f;
  EXPECT_EQ(y.grad().to_vector(), (std::vector<float>{8, 11}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Var w(Tensor::from_vector({2}, {1, -1}), true);
  for (int i = 0; i < 3; ++i) sum(scale(w, 2.f)).backward();
  EXPECT_EQ(w.grad().to_vector(), (std::vector<float>{6, 6}));
  w.zero_grad();
  EXPECT_FALSE(w.grad().defined());
}

TEST(Autograd, NoGradRecordsNothing) {
  Var w(Tensor::from_vector({2}, {1, 2}), true);
  Var y;
  {
    NoGradGuard guard;
    EXPECT_FALSE(grad_enabled());
    y = mul(w, w);
  }
  EXPECT_TRUE(grad_enabled());
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(sum(y).backward(), Error);
}

TEST(Autograd, BackwardReleasesTheGraph) {
  Var x(Tensor::from_vector({2}, {1, 2}), true);
  Var h = gelu(x);  // gelu's node saves its input
  Var y = sum(mul(h, h));
  y.backward();
  EXPECT_FALSE(h.slot()->grad_fn->backward);  // closure (and its saved tensors) released
  EXPECT_TRUE(h.slot()->grad_fn->inputs.empty());
  EXPECT_FALSE(h.grad().defined());  // intermediate gradients are not kept
  EXPECT_TRUE(x.grad().defined());
  EXPECT_THROW(y.backward(), Error);  // a second backward through a spent graph is an error
}

TEST(Autograd, SecondBackwardThroughASharedSpentNodeIsAnError) {
  Var x(Tensor::from_vector({2}, {1, 2}), true);
  Var h = mul(x, x);
  Var l1 = sum(h), l2 = sum(scale(h, 2.f));
  l1.backward();
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{2, 4}));
  try {
    l2.backward();  // reaches h, whose node l1's backward consumed
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'mul'"), std::string::npos) << e.what();
  }
}

TEST(Autograd, DeepGraphsDoNotOverflowTheStack) {
  Var x(Tensor::from_vector({1}, {1}), true);
  Var y = x;
  for (int i = 0; i < 100000; ++i) y = scale(y, 1.0f);
  y.backward();
  EXPECT_EQ(x.grad().item(), 1.f);
}

TEST(Autograd, SeedMustMatchTheOutput) {
  Var x(Tensor::from_vector({2}, {1, 2}), true);
  Var y = scale(x, 3.f);
  EXPECT_THROW(y.backward(), Error);  // two elements need an explicit seed
  EXPECT_THROW(y.backward(Tensor::zeros({3})), Error);
  y.backward(Tensor::from_vector({2}, {1, 10}));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<float>{3, 30}));
}

}  // namespace
}  // namespace heed
