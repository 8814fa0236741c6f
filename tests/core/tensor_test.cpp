#include "heed/core/tensor.h"

#include <gtest/gtest.h>

#include "heed/core/rng.h"

namespace heed {
namespace {

TEST(Tensor, FactoriesAndShape) {
  Tensor t = Tensor::zeros({2, 3});
  EXPECT_EQ(t.shape(), (Shape{2, 3}));
  EXPECT_EQ(t.numel(), 6);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t.f32()) % 64, 0u);  // aligned storage
  for (float v : t.to_vector()) EXPECT_EQ(v, 0.f);
  EXPECT_EQ(Tensor::full({}, 2.5f).item(), 2.5f);
  EXPECT_THROW(Tensor::zeros({2, -1}), Error);
}

TEST(Tensor, EmptyTensorStridesCountZeroDimsAsOne) {
  EXPECT_EQ(contiguous_strides({2, 0, 3}), (Strides{3, 3, 1}));  // torch.empty(2, 0, 3).stride()
  const int64_t big = int64_t(1) << 40;
  EXPECT_THROW(contiguous_strides({0, big, big}), Error);  // numel 0, strides past int64
}

TEST(Tensor, TransposeIsAViewWithSwappedStrides) {
  Tensor t = Tensor::from_vector({2, 3}, {0, 1, 2, 3, 4, 5});
  Tensor tt = t.transpose(0, 1);
  EXPECT_TRUE(tt.shares_storage_with(t));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_EQ(tt.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  Tensor c = tt.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(c.to_vector(), (std::vector<float>{0, 3, 1, 4, 2, 5}));
}

TEST(Tensor, PermuteSliceAndReshape) {
  std::vector<float> v(24);
  for (int i = 0; i < 24; ++i) v[size_t(i)] = float(i);
  Tensor t = Tensor::from_vector({2, 3, 4}, v);
  Tensor p = t.permute({2, 0, 1});  // p[k, i, j] = t[i, j, k] = 12 i + 4 j + k
  EXPECT_EQ(p.shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(p.at({3, 1, 2}), 12.f + 8.f + 3.f);
  Tensor s = t.slice(2, 1, 3);  // s[i, j, k] = t[i, j, k + 1]
  EXPECT_EQ(s.shape(), (Shape{2, 3, 2}));
  EXPECT_EQ(s.at({1, 2, 1}), 12.f + 8.f + 2.f);
  EXPECT_EQ(t.view({6, -1}).shape(), (Shape{6, 4}));
  EXPECT_THROW(s.view({12}), Error);  // not contiguous
  EXPECT_EQ(s.reshape({12}).to_vector()[11], 12.f + 8.f + 2.f);
  EXPECT_THROW(t.view({5, 5}), Error);
  EXPECT_THROW(t.slice(1, 2, 4), Error);
  EXPECT_THROW(t.permute({0, 0, 1}), Error);
}

TEST(Tensor, ErrorsNameTheOperationAndShapes) {
  Tensor t = Tensor::zeros({2, 3});
  try {
    t.view({4, 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("Tensor::view"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("[4, 2]"), std::string::npos);
  }
  EXPECT_THROW(Tensor::from_indices({2}, {1, 2}).f32(), Error);  // wrong dtype
}

TEST(Tensor, CopyIntoStridedWindow) {
  Tensor t = Tensor::zeros({3, 3});
  Tensor window = t.slice(1, 1, 3);
  window.copy_(Tensor::full({3, 2}, 7.f));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 7, 7, 0, 7, 7, 0, 7, 7}));
}

TEST(Rng, SeededAndCounterBased) {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 10; ++i) {
    const uint64_t x = a.next_u64();
    EXPECT_EQ(x, b.next_u64());
    EXPECT_NE(x, c.next_u64());
  }
  EXPECT_EQ(random_uniform(5, 17), random_uniform(5, 17));
  // The normal generator has mean 0 and variance 1 (within sampling error for 200k draws).
  Rng r(1);
  double s = 0, s2 = 0;
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double z = r.normal();
    s += z;
    s2 += z * z;
  }
  EXPECT_NEAR(s / n, 0.0, 0.01);
  EXPECT_NEAR(s2 / n, 1.0, 0.01);
  for (int i = 0; i < 1000; ++i) EXPECT_LT(r.below(7), 7u);
}

}  // namespace
}  // namespace heed
