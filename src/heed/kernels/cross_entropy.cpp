#include "heed/kernels/cross_entropy.h"

#include <cmath>
#include <vector>

#include "heed/kernels/fast_math.h"

namespace heed::kernels {

namespace {
int64_t counted_rows(const int64_t* targets, int64_t rows, int64_t ignore_index) {
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r) n += targets[r] != ignore_index;
  return n;
}
}  // namespace

float cross_entropy_forward(const float* logits, const int64_t* targets, float* lse, int64_t rows,
                            int64_t classes, int64_t ignore_index, float smoothing) {
  std::vector<double> row_loss(size_t(rows), 0.0);
#pragma omp parallel for schedule(static) if (rows * classes > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = logits + r * classes;
    float m = x[0];
    for (int64_t c = 1; c < classes; ++c) m = x[c] > m ? x[c] : m;
    float sum = 0.f, total = 0.f;
#pragma omp simd reduction(+ : sum, total)
    for (int64_t c = 0; c < classes; ++c) {
      sum += exp_approx(x[c] - m);
      total += x[c];
    }
    lse[r] = m + std::log(sum);
    if (targets[r] == ignore_index) continue;
    row_loss[size_t(r)] = (1.0 - smoothing) * (lse[r] - x[targets[r]]) +
                          smoothing * (lse[r] - total / float(classes));
  }
  const int64_t n = counted_rows(targets, rows, ignore_index);
  double loss = 0.0;  // summed in order: deterministic for any thread count
  for (double l : row_loss) loss += l;
  return n ? static_cast<float>(loss / double(n)) : 0.f;
}

void cross_entropy_backward(const float* logits, const int64_t* targets, const float* lse, float g,
                            float* dlogits, int64_t rows, int64_t classes, int64_t ignore_index,
                            float smoothing) {
  const int64_t n = counted_rows(targets, rows, ignore_index);
  if (n == 0) return;
  const float scale = g / float(n);
  const float uniform = smoothing / float(classes);
#pragma omp parallel for schedule(static) if (rows * classes > (1 << 14))
  for (int64_t r = 0; r < rows; ++r) {
    if (targets[r] == ignore_index) continue;
    const float* x = logits + r * classes;
    float* dx = dlogits + r * classes;
#pragma omp simd
    for (int64_t c = 0; c < classes; ++c) dx[c] += scale * (exp_approx(x[c] - lse[r]) - uniform);
    dx[targets[r]] -= scale * (1.0f - smoothing);
  }
}

}  // namespace heed::kernels
