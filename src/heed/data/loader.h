// Training-time data handling for image classification: per-channel normalisation, a seeded
// train/validation split, reproducible augmentation and a prefetching batch loader.
//
// Reproducibility: every random choice is a pure function of a seed and a counter (see
// heed/core/rng.h), never of timing or thread count. The epoch order depends only on
// (seed, epoch), and a sample's augmentation only on (seed, epoch, dataset index), so a run
// resumed mid-epoch with start_epoch(epoch, skip_batches) sees exactly the batches it would have.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
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

// ---- batches ----

struct Batch {
  Tensor images;                 // f32 [B, C, H, W]
  Tensor labels;                 // i64 [B]
  std::vector<int64_t> indices;  // dataset index of each sample
};

// Serves batches of `indices` (a subset of the set, e.g. one side of split_indices) in a seeded
// order, preparing up to kPrefetch batches ahead on a background thread.
//
// Each epoch's order is `indices` shuffled by Fisher-Yates with Rng(random_bits(seed, epoch))
// (or `indices` as given when shuffle is false). A sample's augmentation key is
// epoch * N + dataset index, where N is the size of the whole set. The set's tensors are shared,
// not copied: do not modify them while a loader is running (normalise before constructing).
//
// Not thread-safe itself: one thread calls start_epoch() and next().
class BatchLoader {
 public:
  static constexpr size_t kPrefetch = 3;

  BatchLoader(const ImageSet& set, std::vector<int64_t> indices, int64_t batch_size, bool shuffle,
              bool drop_last, AugmentOptions aug, uint64_t seed);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Stops any running epoch and starts `epoch` at batch `skip_batches` (to resume mid-epoch;
  // 0 <= skip_batches <= batches_per_epoch()).
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);

  // The next batch of the epoch in order, or nullopt once the epoch is over. An exception raised
  // while preparing a batch is rethrown here, after the batches prepared before it.
  std::optional<Batch> next();

  // Batches per epoch: ceil(size / batch_size), or floor with drop_last.
  int64_t batches_per_epoch() const;
  int64_t num_samples() const { return static_cast<int64_t>(indices_.size()); }

 private:
  std::vector<int64_t> epoch_order(int64_t epoch) const;
  Batch make_batch(const std::vector<int64_t>& order, int64_t batch, int64_t epoch) const;
  void produce(std::vector<int64_t> order, int64_t epoch, int64_t first_batch);
  bool push(Batch batch);  // false when asked to stop
  void stop();

  // Read-only after construction, so the producer reads them without locking.
  ImageSet set_;
  std::vector<int64_t> indices_;
  int64_t batch_size_;
  bool shuffle_;
  bool drop_last_;
  AugmentOptions aug_;
  uint64_t seed_;

  // Producer/consumer state, guarded by mutex_.
  std::mutex mutex_;
  std::condition_variable has_space_;  // the producer waits for room in the queue
  std::condition_variable has_batch_;  // next() waits for a batch or the end
  std::deque<Batch> queue_;
  bool stopping_ = false;
  bool finished_ = false;  // the producer has pushed its last batch (or failed)
  std::exception_ptr error_;

  bool started_ = false;  // consumer side only
  std::thread producer_;
};

}  // namespace heed::data
