#include "heed/kernels/gather.h"

#include <cstring>

#include "heed/core/rng.h"

namespace heed::kernels {

void embedding_forward(const int64_t* ids, int64_t n, const float* weight, int64_t dim, float* out) {
#pragma omp parallel for schedule(static) if (n * dim > (1 << 15))
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * dim, weight + ids[i] * dim, size_t(dim) * sizeof(float));
}

void embedding_backward(const int64_t* ids, int64_t n, const float* dout, int64_t dim,
                        float* dweight) {
  constexpr int64_t kBlock = 64;
  const int64_t blocks = (dim + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (n * dim > (1 << 15) && blocks > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t c0 = blk * kBlock, c1 = c0 + kBlock < dim ? c0 + kBlock : dim;
    for (int64_t i = 0; i < n; ++i) {
      float* dst = dweight + ids[i] * dim;
      const float* src = dout + i * dim;
      for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
    }
  }
}

void dropout_forward(const float* x, float* y, int64_t n, float p, uint64_t seed) {
  const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i)
    y[i] = random_uniform(seed, uint64_t(i)) >= p ? x[i] * keep_scale : 0.f;
}

void dropout_backward(const float* dy, float* dx, int64_t n, float p, uint64_t seed) {
  const float keep_scale = 1.0f / (1.0f - p);
#pragma omp parallel for schedule(static) if (n > (1 << 15))
  for (int64_t i = 0; i < n; ++i)
    if (random_uniform(seed, uint64_t(i)) >= p) dx[i] += dy[i] * keep_scale;
}

namespace {
// Calls f(image_offset, patch_offset) for every element; the mapping is a bijection.
template <class F>
void for_each_patch_element(int64_t batch, int64_t channels, int64_t height, int64_t width,
                            int64_t patch, F&& f) {
  const int64_t gh = height / patch, gw = width / patch;
  const int64_t patch_len = channels * patch * patch;
#pragma omp parallel for collapse(2) schedule(static) if (batch * channels * height * width > (1 << 15))
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t h = 0; h < height; ++h)
        for (int64_t w = 0; w < width; ++w) {
          const int64_t img = ((b * channels + c) * height + h) * width + w;
          const int64_t token = (h / patch) * gw + (w / patch);
          const int64_t within = (c * patch + h % patch) * patch + w % patch;
          f(img, (b * gh * gw + token) * patch_len + within);
        }
}
}  // namespace

void patchify_forward(const float* x, float* y, int64_t batch, int64_t channels, int64_t height,
                      int64_t width, int64_t patch) {
  for_each_patch_element(batch, channels, height, width, patch,
                         [&](int64_t img, int64_t pat) { y[pat] = x[img]; });
}

void patchify_backward(const float* dy, float* dx, int64_t batch, int64_t channels, int64_t height,
                       int64_t width, int64_t patch) {
  for_each_patch_element(batch, channels, height, width, patch,
                         [&](int64_t img, int64_t pat) { dx[img] += dy[pat]; });
}

}  // namespace heed::kernels
