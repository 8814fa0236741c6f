// Training-time data handling for images: per-channel normalisation, a seeded train/validation
// split and reproducible augmentation (batches: train/batch_loader.h).
//
// Reproducibility: every random choice is a pure function of a seed and a counter (see
// heed/core/rng.h), never of timing or thread count: a sample's augmentation depends only on
// (seed, key), and the image task's key is (epoch, dataset index).
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "heed/core/tensor.h"
#include "heed/data/idx.h"

namespace heed::data {

// ---- normalisation ----

struct Normalization {
  std::vector<float> mean, std;  // one value per channel
};

// Per-channel mean and population standard deviation (divisor N*H*W) of f32 [N, C, H, W]
// images, accumulated in double (two passes, so constant channels give exactly 0).
Normalization compute_normalization(const Tensor& images);

// images = (images - mean[c]) / std[c] for contiguous f32 [N, C, H, W] or [C, H, W]. Every std
// must be positive and finite (a constant channel cannot be standardised).
void normalize_inplace(Tensor& images, const Normalization& n);

// ---- splitting ----

// Shuffles 0..n-1 with Rng(seed) (Fisher-Yates) and splits it into (train, validation), each
// sorted ascending. The validation part has round(n * validation_fraction) indices, capped at
// n - 1 so that training keeps at least one sample; validation_fraction must be in [0, 1).
std::pair<std::vector<int64_t>, std::vector<int64_t>> split_indices(int64_t n,
                                                                    double validation_fraction,
                                                                    uint64_t seed);

// ---- augmentation ----

struct AugmentOptions {
  int64_t crop_padding = 0;      // random crop of the original size from the image padded by this
  bool horizontal_flip = false;  // mirror left-right with probability 0.5
};

// Writes an augmented copy of the [c, h, w] image `src` to `dst` (same size, no overlap):
// torchvision's RandomCrop((h, w), padding=crop_padding, fill=0) followed by
// RandomHorizontalFlip(0.5). The padding value is 0 in whatever space `src` is in: the loader
// applies this to normalised images, so padding is the per-channel mean, as if one padded the
// raw image with the mean colour. The random choices come only from
// random_bits(seed, sample_key * 4 + k):
//   k = 0: crop top    = bits % (2 * crop_padding + 1), i.e. vertical shift top - crop_padding;
//   k = 1: crop left   = bits % (2 * crop_padding + 1), likewise horizontal;
//   k = 2: flip        = the top bit of bits;  (k = 3 is reserved)
// so out[y][x] = src[y + top - pad][x' + left - pad] with x' = flip ? w - 1 - x : x, and 0
// outside the source. The result is a pure function of (seed, sample_key) for any thread count.
void augment_image(const float* src, float* dst, int64_t c, int64_t h, int64_t w,
                   const AugmentOptions& o, uint64_t seed, uint64_t sample_key);

}  // namespace heed::data
