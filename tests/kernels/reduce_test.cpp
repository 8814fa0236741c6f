#include "heed/kernels/reduce.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <vector>

namespace heed::kernels {
namespace {

// x[r][j] = r + 8 j, so the column sums have a closed form, sum_r (r + 8 j) =
// rows (rows - 1) / 2 + 8 j rows, and every partial sum is an integer below 2^24: exact in float.
std::vector<float> ramp(int64_t rows, int64_t cols) {
  std::vector<float> x(size_t(rows * cols));
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) x[size_t(r * cols + j)] = float(r + 8 * j);
  return x;
}

TEST(SumRows, ClosedFormAndAccumulates) {
  // Shapes around the 64-column block and the parallel threshold, and one column.
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{1, 1}, {7, 3}, {2176, 64}, {2176, 192},
                            {300, 257}, {1000, 1}}) {
    const std::vector<float> x = ramp(rows, cols);
    std::vector<float> out(size_t(cols), 5.f);
    sum_rows(x.data(), rows, cols, -2.f, out.data());
    for (int64_t j = 0; j < cols; ++j) {
      const double want = 5.0 - 2.0 * (double(rows) * (rows - 1) / 2 + 8.0 * j * rows);
      EXPECT_EQ(out[size_t(j)], float(want)) << rows << "x" << cols << " column " << j;
    }
  }
}

TEST(SumRows, SameResultForAnyThreadCount) {
  std::vector<float> x(size_t(999 * 200));
  for (size_t i = 0; i < x.size(); ++i) x[i] = float((i * 7919) % 1000) * 1e-3f - 0.37f;
  std::vector<float> one(200, 0.f), two(200, 0.f);
  const int saved = omp_get_max_threads();
  omp_set_num_threads(1);
  sum_rows(x.data(), 999, 200, 1.f, one.data());
  omp_set_num_threads(2);
  sum_rows(x.data(), 999, 200, 1.f, two.data());
  omp_set_num_threads(saved);
  EXPECT_EQ(one, two);
}

}  // namespace
}  // namespace heed::kernels
