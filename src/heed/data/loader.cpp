#include "heed/data/loader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <numeric>

#include "heed/core/error.h"
#include "heed/core/rng.h"

namespace heed::data {

namespace {

void shuffle(std::vector<int64_t>& values, Rng& rng) {
  for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[rng.below(i)]);
}

// Channel count and the size of one channel plane of [N, C, H, W] or [C, H, W] images.
std::pair<int64_t, int64_t> channels_and_plane(const Tensor& images, const char* op) {
  HEED_CHECK(
      images.defined() && images.dtype() == DType::F32 && (images.dim() == 3 || images.dim() == 4),
      op, ": expected f32 [N, C, H, W] or [C, H, W] images, got ",
      images.defined() ? images.str() : "undefined");
  return {images.size(-3), images.size(-2) * images.size(-1)};
}

// The shift of a random crop with `pad` padding: top (or left) offset in [0, 2 * pad] in the
// padded image, minus the padding. Modulo bias is below 2^-50 for any realistic padding.
int64_t crop_shift(uint64_t bits, int64_t pad) {
  return static_cast<int64_t>(bits % static_cast<uint64_t>(2 * pad + 1)) - pad;
}

}  // namespace

// ---- normalisation ----

Normalization compute_normalization(const Tensor& images) {
  HEED_CHECK(images.defined() && images.dtype() == DType::F32 && images.dim() == 4,
             "compute_normalization: expected f32 [N, C, H, W] images, got ",
             images.defined() ? images.str() : "undefined");
  const Tensor x = images.contiguous();
  const int64_t n = x.size(0), c = x.size(1), plane = x.size(2) * x.size(3);
  HEED_CHECK(n * plane > 0, "compute_normalization: no pixels in ", x.str());
  const double count = static_cast<double>(n * plane);
  Normalization out;
  for (int64_t ch = 0; ch < c; ++ch) {
    // Two passes: the mean first, then squared deviations, which (unlike sum of squares minus
    // squared sum) cannot cancel catastrophically.
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* p = x.f32() + (i * c + ch) * plane;
      for (int64_t k = 0; k < plane; ++k) sum += p[k];
    }
    const double mean = sum / count;
    double squares = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* p = x.f32() + (i * c + ch) * plane;
      for (int64_t k = 0; k < plane; ++k) squares += (p[k] - mean) * (p[k] - mean);
    }
    out.mean.push_back(static_cast<float>(mean));
    out.std.push_back(static_cast<float>(std::sqrt(squares / count)));
  }
  return out;
}

void normalize_inplace(Tensor& images, const Normalization& n) {
  const auto [c, plane] = channels_and_plane(images, "normalize_inplace");
  HEED_CHECK(images.is_contiguous(), "normalize_inplace: needs contiguous images, got a view of ",
             images.str());
  HEED_CHECK(n.mean.size() == static_cast<size_t>(c) && n.std.size() == static_cast<size_t>(c),
             "normalize_inplace: ", images.str(), " has ", c,
             " channels but the normalisation has ", n.mean.size(), " means and ", n.std.size(),
             " stds");
  for (int64_t ch = 0; ch < c; ++ch)
    HEED_CHECK(std::isfinite(n.std[ch]) && n.std[ch] > 0 && std::isfinite(n.mean[ch]),
               "normalize_inplace: channel ", ch, " has mean ", n.mean[ch], " and std ", n.std[ch],
               "; std must be positive and finite");
  if (images.numel() == 0) return;
  const int64_t images_count = images.numel() / (c * plane);
  float* p = images.f32();
  for (int64_t i = 0; i < images_count; ++i)
    for (int64_t ch = 0; ch < c; ++ch, p += plane)
      for (int64_t k = 0; k < plane; ++k) p[k] = (p[k] - n.mean[ch]) / n.std[ch];
}

// ---- splitting ----

std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n,
                                                                    double validation_fraction,
                                                                    uint64_t seed) {
  HEED_CHECK(n >= 0, "split_indices: n must be >= 0, got ", n);
  HEED_CHECK(validation_fraction >= 0 && validation_fraction < 1,
             "split_indices: validation_fraction must be in [0, 1), got ", validation_fraction);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng rng(seed);
  shuffle(order, rng);
  const auto wanted =
      static_cast<int64_t>(std::llround(static_cast<double>(n) * validation_fraction));
  const int64_t validation_size = std::min(wanted, std::max<int64_t>(n - 1, 0));
  std::vector<int64_t> validation(order.begin(), order.begin() + validation_size);
  std::vector<int64_t> train(order.begin() + validation_size, order.end());
  std::sort(train.begin(), train.end());
  std::sort(validation.begin(), validation.end());
  return {std::move(train), std::move(validation)};
}

// ---- augmentation ----

void augment_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w,
                   const AugmentOptions& o, uint64_t seed, uint64_t sample_key) {
  HEED_CHECK(c > 0 && h > 0 && w > 0, "augment_image: bad image size ", c, "x", h, "x", w);
  HEED_CHECK(o.crop_padding >= 0, "augment_image: crop_padding must be >= 0, got ", o.crop_padding);
  const int64_t n = c * h * w;
  const std::less<const float*> before;
  HEED_CHECK(before(src + n - 1, dst) || before(dst + n - 1, src),
             "augment_image: source and destination overlap");

  const uint64_t base = sample_key * 4;
  const int64_t dy = o.crop_padding > 0 ? crop_shift(random_bits(seed, base), o.crop_padding) : 0;
  const int64_t dx =
      o.crop_padding > 0 ? crop_shift(random_bits(seed, base + 1), o.crop_padding) : 0;
  const bool flip = o.horizontal_flip && (random_bits(seed, base + 2) >> 63) != 0;

  for (int64_t ch = 0; ch < c; ++ch) {
    for (int64_t y = 0; y < h; ++y) {
      float* out = dst + (ch * h + y) * w;
      const int64_t sy = y + dy;
      if (sy < 0 || sy >= h) {
        std::fill(out, out + w, 0.0f);
        continue;
      }
      const float* row = src + (ch * h + sy) * w;
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sx = (flip ? w - 1 - x : x) + dx;
        out[x] = sx >= 0 && sx < w ? row[sx] : 0.0f;
      }
    }
  }
}

}  // namespace heed::data
