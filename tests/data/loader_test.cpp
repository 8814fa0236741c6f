#include "heed/data/loader.h"
#include "heed/tasks/image_classification.h"
#include "heed/train/batch_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/core/rng.h"
#include "heed/core/tensor.h"

namespace heed::data {
namespace {

// ---- helpers ----

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no heed::Error thrown";
  return "";
}

void expect_contains(const std::string& text, const std::string& part) {
  EXPECT_NE(text.find(part), std::string::npos) << "\"" << part << "\" not in: " << text;
}

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// n images of [c, h, w] where every pixel of image i encodes (i, channel, y, x), so any
// misplaced or mixed-up pixel shows; label i % classes.
ImageSet pattern_set(int64_t n, int64_t c, int64_t h, int64_t w, int64_t classes = 3) {
  ImageSet set;
  set.images = Tensor::empty({n, c, h, w});
  float* p = set.images.f32();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t ch = 0; ch < c; ++ch)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x)
          *p++ = static_cast<float>(i * 10000 + ch * 1000 + y * 10 + x + 1);
  set.labels = Tensor::empty({n}, DType::I64);
  for (int64_t i = 0; i < n; ++i) set.labels.i64()[i] = i % classes;
  set.num_classes = classes;
  return set;
}

// The expected epoch order, computed here: Fisher-Yates driven by Rng(random_bits(seed, epoch)).
std::vector<int64_t> expected_order(std::vector<int64_t> indices, uint64_t seed, int64_t epoch) {
  Rng rng(random_bits(seed, static_cast<uint64_t>(epoch)));
  for (size_t i = indices.size(); i > 1; --i) std::swap(indices[i - 1], indices[rng.below(i)]);
  return indices;
}

// The training loader as the image task builds it: an ImageDataset over the set and a
// ShuffledBatches plan of `indices`, behind the trainer's BatchLoader.
struct ImageLoader {
  ImageLoader(const ImageSet& set, std::vector<int64_t> indices, int64_t batch_size, bool shuffle,
              bool drop_last, AugmentOptions aug, uint64_t seed)
      : data(set, aug), plan(std::move(indices), batch_size, shuffle, drop_last, seed),
        loader(data, plan, seed, true) {}
  void start_epoch(int64_t epoch, int64_t skip = 0) { loader.start_epoch(epoch, skip); }
  std::optional<nn::Batch> next() { return loader.next(); }
  int64_t batches_per_epoch() const { return loader.batches_per_epoch(); }
  tasks::ImageDataset data;
  train::ShuffledBatches plan;
  train::BatchLoader loader;
};

// A batch's tensors, as the old loader's fields.
struct Batch {
  std::vector<int64_t> indices;
  Tensor images, labels;
};

// All batches of one epoch (from skip_batches on).
std::vector<Batch> epoch_batches(ImageLoader& loader, int64_t epoch, int64_t skip = 0) {
  loader.start_epoch(epoch, skip);
  std::vector<Batch> batches;
  while (auto batch = loader.next())
    batches.push_back({batch->indices, batch->at("images"), batch->at("labels")});
  return batches;
}

std::vector<int64_t> concat_indices(const std::vector<Batch>& batches) {
  std::vector<int64_t> all;
  for (const Batch& b : batches) all.insert(all.end(), b.indices.begin(), b.indices.end());
  return all;
}

// ---- normalisation ----

TEST(Normalize, ComputeMatchesClosedForm) {
  // Channel 0 holds 1, 2, 3, 4 (mean 2.5, variance 1.25); channel 1 holds 0, 0, 0, 8 (mean 2,
  // variance (4 + 4 + 4 + 36) / 4 = 12), spread over two images of 1x2 pixels.
  const Tensor images = Tensor::from_vector({2, 2, 1, 2}, {1, 2, 0, 0, 3, 4, 0, 8});
  const Normalization n = compute_normalization(images);
  ASSERT_EQ(n.mean.size(), 2u);
  ASSERT_EQ(n.std.size(), 2u);
  EXPECT_FLOAT_EQ(n.mean[0], 2.5f);
  EXPECT_FLOAT_EQ(n.std[0], std::sqrt(1.25f));
  EXPECT_FLOAT_EQ(n.mean[1], 2.0f);
  EXPECT_FLOAT_EQ(n.std[1], std::sqrt(12.0f));
}

TEST(Normalize, ConstantChannelHasExactlyZeroStd) {
  const Normalization n = compute_normalization(Tensor::full({3, 1, 5, 5}, 0.1f));
  EXPECT_FLOAT_EQ(n.mean[0], 0.1f);
  EXPECT_EQ(n.std[0], 0.0f);
}

TEST(Normalize, InplaceStandardises) {
  Tensor images = Tensor::from_vector({2, 2, 1, 2}, {1, 2, 0, 0, 3, 4, 0, 8});
  const std::vector<float> before = images.to_vector();
  const Normalization n = compute_normalization(images);
  normalize_inplace(images, n);
  const std::vector<float> after = images.to_vector();
  for (size_t i = 0; i < after.size(); ++i) {
    const size_t ch = (i / 2) % 2;
    EXPECT_FLOAT_EQ(after[i], (before[i] - n.mean[ch]) / n.std[ch]) << i;
  }
  const Normalization again = compute_normalization(images);
  for (int ch = 0; ch < 2; ++ch) {
    EXPECT_NEAR(again.mean[ch], 0.0f, 1e-6f);
    EXPECT_NEAR(again.std[ch], 1.0f, 1e-6f);
  }
}

TEST(Normalize, InplaceOnSingleImage) {
  Tensor image = Tensor::from_vector({2, 1, 2}, {1, 3, 10, 20});
  normalize_inplace(image, {{1, 10}, {2, 5}});
  EXPECT_EQ(image.to_vector(), (std::vector<float>{0, 1, 0, 2}));
}

TEST(Normalize, Errors) {
  Tensor image = Tensor::zeros({2, 1, 2});
  expect_contains(error_of([&] {
                    normalize_inplace(image, {{0}, {1}});
                  }),
                  "has 2 channels but the normalisation has 1 means and 1 stds");
  expect_contains(error_of([&] {
                    normalize_inplace(image, {{0, 0}, {1, 0}});
                  }),
                  "channel 1 has mean 0 and std 0; std must be positive and finite");
  Tensor view = Tensor::zeros({1, 2, 3}).transpose(1, 2);
  expect_contains(error_of([&] { normalize_inplace(view, {{0}, {1}}); }), "needs contiguous");
  expect_contains(error_of([] {
                    compute_normalization(Tensor::zeros({2, 3}));
                  }),
                  "compute_normalization: expected f32 [N, C, H, W]");
}

// ---- splitting ----

TEST(Split, SizesDisjointCompleteAndSorted) {
  const auto [train, validation] = split_indices(100, 0.2, 7);
  EXPECT_EQ(train.size(), 80u);
  EXPECT_EQ(validation.size(), 20u);
  EXPECT_TRUE(std::is_sorted(train.begin(), train.end()));
  EXPECT_TRUE(std::is_sorted(validation.begin(), validation.end()));
  std::vector<int64_t> all = train;
  all.insert(all.end(), validation.begin(), validation.end());
  std::sort(all.begin(), all.end());
  EXPECT_EQ(all, iota(100));
  // Not simply the last 20.
  EXPECT_NE(validation, std::vector<int64_t>(all.end() - 20, all.end()));
}

TEST(Split, DeterministicPerSeed) {
  EXPECT_EQ(split_indices(1000, 0.1, 3), split_indices(1000, 0.1, 3));
  EXPECT_NE(split_indices(1000, 0.1, 3).second, split_indices(1000, 0.1, 4).second);
  // The validation set is the first part of the seeded shuffle.
  std::vector<int64_t> shuffled = iota(1000);
  Rng rng(3);
  for (size_t i = shuffled.size(); i > 1; --i) std::swap(shuffled[i - 1], shuffled[rng.below(i)]);
  std::vector<int64_t> first(shuffled.begin(), shuffled.begin() + 100);
  std::sort(first.begin(), first.end());
  EXPECT_EQ(split_indices(1000, 0.1, 3).second, first);
}

TEST(Split, EdgeCases) {
  EXPECT_EQ(split_indices(60000, 0.1, 0).second.size(), 6000u);
  EXPECT_EQ(split_indices(10, 0.0, 0).first, iota(10));
  EXPECT_TRUE(split_indices(10, 0.0, 0).second.empty());
  EXPECT_EQ(split_indices(10, 0.25, 0).second.size(), 3u);  // 2.5 rounds away from zero
  EXPECT_EQ(split_indices(1, 0.9, 0).first.size(), 1u);     // training keeps one sample
  EXPECT_TRUE(split_indices(0, 0.5, 0).first.empty());
  expect_contains(error_of([] { split_indices(10, 1.0, 0); }),
                  "validation_fraction must be in [0, 1)");
  expect_contains(error_of([] { split_indices(10, -0.1, 0); }), "validation_fraction");
  expect_contains(error_of([] { split_indices(10, std::nan(""), 0); }), "validation_fraction");
  expect_contains(error_of([] { split_indices(-1, 0.1, 0); }), "n must be >= 0");
}

// ---- augmentation ----

struct Expected {
  int64_t dy, dx;
  bool flip;
};

// The documented use of the random bits, recomputed here.
Expected expected_params(uint64_t seed, uint64_t key, int64_t pad, bool flip) {
  Expected e{0, 0, false};
  if (pad > 0) {
    e.dy =
        static_cast<int64_t>(random_bits(seed, key * 4) % static_cast<uint64_t>(2 * pad + 1)) - pad;
    e.dx =
        static_cast<int64_t>(random_bits(seed, key * 4 + 1) % static_cast<uint64_t>(2 * pad + 1)) -
        pad;
  }
  e.flip = flip && (random_bits(seed, key * 4 + 2) >> 63) != 0;
  return e;
}

// Checks `out` against `src` shifted by (dy, dx) after an optional mirror, with 0 outside.
void expect_augmented(const float* src, const float* out, int64_t c, int64_t h, int64_t w,
                      const Expected& e) {
  for (int64_t ch = 0; ch < c; ++ch)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) {
        const int64_t sy = y + e.dy, sx = (e.flip ? w - 1 - x : x) + e.dx;
        const bool inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
        const float want = inside ? src[(ch * h + sy) * w + sx] : 0.0f;
        ASSERT_EQ(out[(ch * h + y) * w + x], want)
            << "ch " << ch << " y " << y << " x " << x << " dy " << e.dy << " dx " << e.dx
            << " flip " << e.flip;
      }
}

TEST(Augment, CropShiftsByTheOffsetFromTheRandomBits) {
  const ImageSet set = pattern_set(1, 2, 5, 6);
  const float* src = set.images.f32();
  std::vector<float> out(2 * 5 * 6);
  const AugmentOptions o{.crop_padding = 2, .horizontal_flip = false};
  std::set<std::pair<int64_t, int64_t>> shifts;
  for (uint64_t key = 0; key < 200; ++key) {
    augment_image(src, out.data(), 2, 5, 6, o, 42, key);
    const Expected e = expected_params(42, key, 2, false);
    shifts.insert({e.dy, e.dx});
    expect_augmented(src, out.data(), 2, 5, 6, e);
  }
  EXPECT_EQ(shifts.size(), 25u);  // every shift in [-2, 2]^2 occurred
}

TEST(Augment, FlipMirrorsAboutHalfTheTime) {
  const ImageSet set = pattern_set(1, 1, 3, 4);
  const float* src = set.images.f32();
  std::vector<float> out(12);
  const AugmentOptions o{.crop_padding = 0, .horizontal_flip = true};
  int flips = 0;
  for (uint64_t key = 0; key < 1000; ++key) {
    augment_image(src, out.data(), 1, 3, 4, o, 5, key);
    const Expected e = expected_params(5, key, 0, true);
    flips += e.flip;
    expect_augmented(src, out.data(), 1, 3, 4, e);
    if (e.flip) {
      EXPECT_EQ(out[0], src[3]);  // the first pixel of a mirrored row is the last one
    }
  }
  EXPECT_GT(flips, 430);
  EXPECT_LT(flips, 570);
}

TEST(Augment, CropAndFlipTogether) {
  const ImageSet set = pattern_set(1, 3, 4, 4);
  const float* src = set.images.f32();
  std::vector<float> out(48);
  const AugmentOptions o{.crop_padding = 1, .horizontal_flip = true};
  for (uint64_t key = 0; key < 100; ++key) {
    augment_image(src, out.data(), 3, 4, 4, o, 9, key);
    expect_augmented(src, out.data(), 3, 4, 4, expected_params(9, key, 1, true));
  }
}

TEST(Augment, PureFunctionOfSeedAndKey) {
  const ImageSet set = pattern_set(1, 1, 8, 8);
  const AugmentOptions o{.crop_padding = 3, .horizontal_flip = true};
  std::vector<float> a(64), b(64), other(64);
  augment_image(set.images.f32(), a.data(), 1, 8, 8, o, 11, 123);
  augment_image(set.images.f32(), other.data(), 1, 8, 8, o, 11, 7);
  augment_image(set.images.f32(), b.data(), 1, 8, 8, o, 11, 123);
  EXPECT_EQ(a, b);
  int differing_keys = 0;
  for (uint64_t key = 0; key < 20; ++key) {
    augment_image(set.images.f32(), other.data(), 1, 8, 8, o, 11, key);
    differing_keys += other != a;
  }
  EXPECT_GT(differing_keys, 10);
}

TEST(Augment, NoOptionsCopiesAndPaddingLargerThanImage) {
  const ImageSet set = pattern_set(1, 1, 2, 3);
  std::vector<float> out(6);
  augment_image(set.images.f32(), out.data(), 1, 2, 3, {}, 1, 1);
  EXPECT_EQ(out, set.images.to_vector());
  for (uint64_t key = 0; key < 50; ++key) {
    augment_image(set.images.f32(), out.data(), 1, 2, 3, {.crop_padding = 5}, 1, key);
    expect_augmented(set.images.f32(), out.data(), 1, 2, 3, expected_params(1, key, 5, false));
  }
}

TEST(Augment, Errors) {
  std::vector<float> buffer(8);
  expect_contains(
      error_of([&] { augment_image(buffer.data(), buffer.data() + 2, 1, 2, 3, {}, 0, 0); }),
      "source and destination overlap");
  expect_contains(error_of([&] {
                    augment_image(buffer.data(), buffer.data() + 4, 1, 2, 2, {.crop_padding = -1},
                                  0, 0);
                  }),
                  "crop_padding must be >= 0");
}

// ---- ImageLoader ----

TEST(Loader, EveryIndexOnceWithMatchingPixelsAndLabels) {
  const ImageSet set = pattern_set(10, 1, 2, 2);
  ImageLoader loader(set, iota(10), 3, true, false, {}, 1);
  EXPECT_EQ(loader.batches_per_epoch(), 4);
  for (int64_t epoch = 0; epoch < 3; ++epoch) {
    const std::vector<Batch> batches = epoch_batches(loader, epoch);
    ASSERT_EQ(batches.size(), 4u);
    EXPECT_EQ(batches[3].indices.size(), 1u);
    std::vector<int64_t> all = concat_indices(batches);
    for (const Batch& b : batches) {
      const int64_t n = static_cast<int64_t>(b.indices.size());
      ASSERT_EQ(b.images.shape(), (Shape{n, 1, 2, 2}));
      ASSERT_EQ(b.labels.shape(), (Shape{n}));
      for (int64_t i = 0; i < n; ++i) {
        EXPECT_EQ(b.labels.i64()[i], b.indices[i] % 3);
        for (int64_t p = 0; p < 4; ++p)
          EXPECT_EQ(b.images.f32()[i * 4 + p], set.images.f32()[b.indices[i] * 4 + p]);
      }
    }
    std::sort(all.begin(), all.end());
    EXPECT_EQ(all, iota(10));
  }
}

TEST(Loader, OrderDependsOnlyOnSeedAndEpoch) {
  const ImageSet set = pattern_set(50, 1, 1, 1);
  ImageLoader a(set, iota(50), 7, true, false, {}, 99);
  ImageLoader b(set, iota(50), 7, true, false, {}, 99);
  ImageLoader other_seed(set, iota(50), 7, true, false, {}, 100);
  // a has been through other epochs first; b starts at epoch 3 directly.
  epoch_batches(a, 0);
  epoch_batches(a, 1);
  const std::vector<int64_t> order3 = concat_indices(epoch_batches(a, 3));
  EXPECT_EQ(order3, concat_indices(epoch_batches(b, 3)));
  EXPECT_EQ(order3, expected_order(iota(50), 99, 3));
  EXPECT_NE(order3, concat_indices(epoch_batches(a, 4)));
  EXPECT_NE(order3, concat_indices(epoch_batches(other_seed, 3)));
  EXPECT_NE(order3, iota(50));
  // Repeating an epoch repeats it.
  EXPECT_EQ(order3, concat_indices(epoch_batches(a, 3)));
}

TEST(Loader, WithoutShuffleKeepsTheGivenOrder) {
  const ImageSet set = pattern_set(20, 1, 1, 1);
  const std::vector<int64_t> subset = {5, 3, 19, 0, 7};
  ImageLoader loader(set, subset, 2, false, false, {}, 1);
  EXPECT_EQ(concat_indices(epoch_batches(loader, 0)), subset);
  EXPECT_EQ(concat_indices(epoch_batches(loader, 1)), subset);
}

TEST(Loader, SubsetIndicesOnly) {
  const ImageSet set = pattern_set(30, 1, 1, 1);
  const auto [train, validation] = split_indices(30, 0.3, 4);
  ImageLoader loader(set, validation, 4, true, false, {}, 1);
  std::vector<int64_t> seen = concat_indices(epoch_batches(loader, 2));
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(seen, validation);
  EXPECT_EQ(concat_indices(epoch_batches(loader, 2)), expected_order(validation, 1, 2));
}

TEST(Loader, SkipBatchesResumesTheSameSequence) {
  const ImageSet set = pattern_set(23, 1, 4, 4);
  const AugmentOptions aug{.crop_padding = 2, .horizontal_flip = true};
  ImageLoader full(set, iota(23), 5, true, false, aug, 17);
  ImageLoader resumed(set, iota(23), 5, true, false, aug, 17);
  const std::vector<Batch> all = epoch_batches(full, 6);
  for (int64_t skip = 0; skip <= full.batches_per_epoch(); ++skip) {
    const std::vector<Batch> rest = epoch_batches(resumed, 6, skip);
    ASSERT_EQ(rest.size(), all.size() - static_cast<size_t>(skip));
    for (size_t i = 0; i < rest.size(); ++i) {
      EXPECT_EQ(rest[i].indices, all[skip + i].indices);
      EXPECT_EQ(rest[i].images.to_vector(), all[skip + i].images.to_vector());
      EXPECT_EQ(rest[i].labels.to_vector(), all[skip + i].labels.to_vector());
    }
  }
  expect_contains(error_of([&] { resumed.start_epoch(6, 6); }), "skip_batches must be in [0, 5]");
  expect_contains(error_of([&] { resumed.start_epoch(-1); }), "epoch must be >= 0");
}

TEST(Loader, AugmentationKeyIsEpochTimesSetSizePlusIndex) {
  const int64_t n = 12;
  const ImageSet set = pattern_set(n, 2, 3, 3);
  const AugmentOptions aug{.crop_padding = 1, .horizontal_flip = true};
  ImageLoader loader(set, iota(n), 4, true, false, aug, 21);
  for (int64_t epoch : {0, 5}) {
    for (const Batch& b : epoch_batches(loader, epoch)) {
      for (size_t i = 0; i < b.indices.size(); ++i) {
        const uint64_t key = static_cast<uint64_t>(epoch * n + b.indices[i]);
        expect_augmented(set.images.f32() + b.indices[i] * 18, b.images.f32() + i * 18, 2, 3, 3,
                         expected_params(21, key, 1, true));
      }
    }
  }
}

TEST(Loader, DropLast) {
  const ImageSet set = pattern_set(10, 1, 1, 1);
  ImageLoader loader(set, iota(10), 3, true, true, {}, 1);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  const std::vector<Batch> batches = epoch_batches(loader, 0);
  ASSERT_EQ(batches.size(), 3u);
  for (const Batch& b : batches) EXPECT_EQ(b.indices.size(), 3u);
  const std::vector<int64_t> order = expected_order(iota(10), 1, 0);
  EXPECT_EQ(concat_indices(batches), std::vector<int64_t>(order.begin(), order.begin() + 9));
  ImageLoader tiny(set, {1, 2}, 3, true, true, {}, 1);
  EXPECT_EQ(tiny.batches_per_epoch(), 0);
  EXPECT_TRUE(epoch_batches(tiny, 0).empty());
}

TEST(Loader, EndOfEpochStaysEnded) {
  const ImageSet set = pattern_set(4, 1, 1, 1);
  ImageLoader loader(set, iota(4), 4, false, false, {}, 1);
  loader.start_epoch(0);
  EXPECT_TRUE(loader.next().has_value());
  EXPECT_FALSE(loader.next().has_value());
  EXPECT_FALSE(loader.next().has_value());
}

TEST(Loader, StoppingMidEpochIsClean) {
  const ImageSet set = pattern_set(2000, 1, 2, 2);
  {
    ImageLoader loader(set, iota(2000), 2, true, false, {.crop_padding = 1}, 3);
    loader.start_epoch(0);
    ASSERT_TRUE(loader.next().has_value());
  }  // destroyed with a full queue and a producer waiting for room
  {
    ImageLoader loader(set, iota(2000), 2, true, false, {}, 3);
    loader.start_epoch(0);
  }  // destroyed before anything was consumed
  { ImageLoader never_started(set, iota(2000), 2, true, false, {}, 3); }
  // Restarting mid-epoch discards the old epoch's queued batches.
  ImageLoader loader(set, iota(2000), 2, true, false, {}, 3);
  loader.start_epoch(0);
  loader.next();
  loader.next();
  const std::vector<int64_t> order = expected_order(iota(2000), 3, 1);
  loader.start_epoch(1);
  const std::optional<nn::Batch> first = loader.next();
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->indices, (std::vector<int64_t>{order[0], order[1]}));
  for (int i = 0; i < 50; ++i) loader.start_epoch(i % 3, i % 7);  // rapid restarts
  EXPECT_TRUE(loader.next().has_value());
}

TEST(Loader, Errors) {
  const ImageSet set = pattern_set(5, 1, 1, 1);
  ImageLoader outside(set, {0, 5}, 2, true, false, {}, 0);  // found when the batch is made
  outside.start_epoch(0);
  expect_contains(error_of([&] { outside.next(); }), "index 5 is outside the set of 5");
  expect_contains(error_of([&] { ImageLoader(set, {0}, 0, true, false, {}, 0); }),
                  "batch_size must be positive");
  expect_contains(error_of([&] { ImageLoader(set, {0}, 1, true, false, {.crop_padding = -2}, 0); }),
                  "crop_padding must be >= 0");
  ImageSet bad_labels = set;
  bad_labels.labels = Tensor::zeros({4}, DType::I64);
  expect_contains(error_of([&] { ImageLoader(bad_labels, {0}, 1, true, false, {}, 0); }),
                  "expected i64 [5] labels");
  ImageLoader loader(set, iota(5), 2, true, false, {}, 0);
  expect_contains(error_of([&] { loader.next(); }), "call start_epoch first");
}

}  // namespace
}  // namespace heed::data
