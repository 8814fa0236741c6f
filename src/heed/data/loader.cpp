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

// ---- BatchLoader ----

BatchLoader::BatchLoader(const ImageSet& set, std::vector<int64_t> indices, int64_t batch_size,
                         bool shuffle, bool drop_last, AugmentOptions aug, uint64_t seed)
    : indices_(std::move(indices)),
      batch_size_(batch_size),
      shuffle_(shuffle),
      drop_last_(drop_last),
      aug_(aug),
      seed_(seed) {
  HEED_CHECK(set.images.defined() && set.images.dtype() == DType::F32 && set.images.dim() == 4,
             "BatchLoader: expected f32 [N, C, H, W] images, got ",
             set.images.defined() ? set.images.str() : "undefined");
  const int64_t n = set.images.size(0);
  HEED_CHECK(set.labels.defined() && set.labels.dtype() == DType::I64 && set.labels.dim() == 1 &&
                 set.labels.size(0) == n,
             "BatchLoader: expected i64 [", n, "] labels for ", set.images.str(), ", got ",
             set.labels.defined() ? set.labels.str() : "undefined");
  HEED_CHECK(batch_size > 0, "BatchLoader: batch_size must be positive, got ", batch_size);
  HEED_CHECK(aug.crop_padding >= 0, "BatchLoader: crop_padding must be >= 0, got ",
             aug.crop_padding);
  for (int64_t index : indices_)
    HEED_CHECK(index >= 0 && index < n, "BatchLoader: index ", index, " is outside the set of ", n,
               " images");
  // Shares storage when already contiguous, which the raw-pointer batch assembly needs.
  set_ = ImageSet{set.images.contiguous(), set.labels.contiguous(), set.num_classes};
}

BatchLoader::~BatchLoader() { stop(); }

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t n = num_samples();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

std::vector<int64_t> BatchLoader::epoch_order(int64_t epoch) const {
  std::vector<int64_t> order = indices_;
  if (shuffle_) {
    Rng rng(random_bits(seed_, static_cast<uint64_t>(epoch)));
    shuffle(order, rng);
  }
  return order;
}

Batch BatchLoader::make_batch(const std::vector<int64_t>& order, int64_t batch,
                              int64_t epoch) const {
  const int64_t begin = batch * batch_size_;
  const int64_t end = std::min(begin + batch_size_, static_cast<int64_t>(order.size()));
  const int64_t c = set_.images.size(1), h = set_.images.size(2), w = set_.images.size(3);
  const int64_t image_size = c * h * w;
  const bool augment = aug_.crop_padding > 0 || aug_.horizontal_flip;
  const uint64_t set_size = static_cast<uint64_t>(set_.images.size(0));

  Batch out;
  out.indices.assign(order.begin() + begin, order.begin() + end);
  const int64_t count = end - begin;
  out.images = Tensor::empty({count, c, h, w});
  out.labels = Tensor::empty({count}, DType::I64);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t index = out.indices[i];
    const float* src = set_.images.f32() + index * image_size;
    float* dst = out.images.f32() + i * image_size;
    if (augment) {
      const uint64_t key = static_cast<uint64_t>(epoch) * set_size + static_cast<uint64_t>(index);
      augment_image(src, dst, c, h, w, aug_, seed_, key);
    } else {
      std::memcpy(dst, src, static_cast<size_t>(image_size) * sizeof(float));
    }
    out.labels.i64()[i] = set_.labels.i64()[index];
  }
  return out;
}

bool BatchLoader::push(Batch batch) {
  std::unique_lock lock(mutex_);
  has_space_.wait(lock, [&] { return stopping_ || queue_.size() < kPrefetch; });
  if (stopping_) return false;
  queue_.push_back(std::move(batch));
  has_batch_.notify_one();
  return true;
}

void BatchLoader::produce(std::vector<int64_t> order, int64_t epoch, int64_t first_batch) {
  try {
    const int64_t total = batches_per_epoch();
    for (int64_t b = first_batch; b < total; ++b) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      if (!push(make_batch(order, b, epoch))) return;
    }
  } catch (...) {
    // Handed to next(), which rethrows it after the batches queued before the failure.
    std::lock_guard lock(mutex_);
    error_ = std::current_exception();
  }
  std::lock_guard lock(mutex_);
  finished_ = true;
  has_batch_.notify_one();
}

void BatchLoader::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  has_space_.notify_one();
  if (producer_.joinable()) producer_.join();
  // The producer is gone: reset for the next epoch without racing anyone.
  queue_.clear();
  stopping_ = false;
  finished_ = false;
  error_ = nullptr;
}

void BatchLoader::start_epoch(int64_t epoch, int64_t skip_batches) {
  HEED_CHECK(epoch >= 0, "BatchLoader::start_epoch: epoch must be >= 0, got ", epoch);
  HEED_CHECK(skip_batches >= 0 && skip_batches <= batches_per_epoch(),
             "BatchLoader::start_epoch: skip_batches must be in [0, ", batches_per_epoch(),
             "], got ", skip_batches);
  stop();
  // Only marked started once a producer exists: next() would otherwise wait for nobody.
  started_ = false;
  producer_ = std::thread(&BatchLoader::produce, this, epoch_order(epoch), epoch, skip_batches);
  started_ = true;
}

std::optional<Batch> BatchLoader::next() {
  HEED_CHECK(started_, "BatchLoader::next: call start_epoch first");
  std::unique_lock lock(mutex_);
  has_batch_.wait(lock, [&] { return !queue_.empty() || finished_; });
  if (!queue_.empty()) {
    Batch batch = std::move(queue_.front());
    queue_.pop_front();
    has_space_.notify_one();
    return batch;
  }
  if (error_) std::rethrow_exception(error_);
  return std::nullopt;
}

}  // namespace heed::data
