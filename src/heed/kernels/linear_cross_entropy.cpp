#include "heed/kernels/linear_cross_entropy.h"

#include <algorithm>
#include <cstring>

#include "heed/kernels/cross_entropy.h"
#include "heed/kernels/gemm.h"

namespace heed::kernels {

namespace {
int64_t counted(const int64_t* targets, int64_t rows, int64_t ignore_index) {
  int64_t n = 0;
  for (int64_t r = 0; r < rows; ++r) n += targets[r] != ignore_index;
  return n;
}
}  // namespace

int64_t linear_cross_entropy_chunk(int64_t rows, int64_t classes) {
  const int64_t target = (int64_t{8} << 20) / int64_t(sizeof(float)) / std::max<int64_t>(classes, 1);
  return std::max<int64_t>(1, std::min(rows, std::max<int64_t>(64, target)));
}

float linear_cross_entropy_forward(const float* x, const float* w, const int64_t* targets, float* lse,
                                   int64_t rows, int64_t dim, int64_t classes, int64_t ignore_index,
                                   int64_t chunk, float* scratch, float smoothing) {
  const int64_t total = counted(targets, rows, ignore_index);
  if (total == 0) {
    std::fill(lse, lse + rows, 0.f);
    return 0.f;
  }
  double sum = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
    gemm(false, true, n, classes, dim, 1.f, x + r0 * dim, dim, w, dim, 0.f, scratch, classes);
    const int64_t here = counted(targets + r0, n, ignore_index);
    // The chunk's mean times its count: the chunk's sum (in double, summed in chunk order).
    const float mean = cross_entropy_forward(scratch, targets + r0, lse + r0, n, classes, ignore_index, smoothing);
    sum += double(mean) * double(here);
  }
  return float(sum / double(total));
}

void linear_cross_entropy_backward(const float* x, const float* w, const int64_t* targets, const float* lse,
                                   float g, float* dx, float beta_x, float* dw, float beta_w, int64_t rows,
                                   int64_t dim, int64_t classes, int64_t ignore_index, int64_t chunk,
                                   float* scratch, float smoothing) {
  const int64_t total = counted(targets, rows, ignore_index);
  float* logits = scratch;
  float* dlogits = scratch + chunk * classes;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t n = std::min(chunk, rows - r0);
    const int64_t here = counted(targets + r0, n, ignore_index);
    std::memset(dlogits, 0, size_t(n * classes) * sizeof(float));
    if (here > 0) {
      gemm(false, true, n, classes, dim, 1.f, x + r0 * dim, dim, w, dim, 0.f, logits, classes);
      // cross_entropy_backward scales by g / (the chunk's count): rescale to the whole count.
      cross_entropy_backward(logits, targets + r0, lse + r0, g * float(here) / float(total), dlogits, n, classes,
                             ignore_index, smoothing);
    }
    if (dx) gemm(false, false, n, dim, classes, 1.f, dlogits, classes, w, dim, beta_x, dx + r0 * dim, dim);
    if (dw) gemm(true, false, classes, dim, n, 1.f, dlogits, classes, x + r0 * dim, dim, r0 == 0 ? beta_w : 1.f, dw,
                 dim);
  }
}

}  // namespace heed::kernels
