#include "heed/train/batch_loader.h"

#include <algorithm>

#include "heed/core/error.h"
#include "heed/core/rng.h"

namespace heed::train {

namespace {
void shuffle(std::vector<int64_t>& values, Rng& rng) {
  for (size_t i = values.size(); i > 1; --i) std::swap(values[i - 1], values[rng.below(i)]);
}

int64_t batch_count(int64_t n, int64_t batch_size, bool drop_last) {
  return drop_last ? n / batch_size : (n + batch_size - 1) / batch_size;
}
}  // namespace

std::vector<int64_t> shuffled(std::vector<int64_t> indices, uint64_t seed, int64_t epoch) {
  Rng rng(random_bits(seed, uint64_t(epoch)));
  shuffle(indices, rng);
  return indices;
}

ShuffledBatches::ShuffledBatches(std::vector<int64_t> indices, int64_t batch_size, bool shuffle,
                                 bool drop_last, uint64_t seed)
    : indices_(std::move(indices)), batch_size_(batch_size), shuffle_(shuffle), drop_last_(drop_last),
      seed_(seed) {
  HEED_CHECK(batch_size > 0, "batches: batch_size must be positive, got ", batch_size);
}

int64_t ShuffledBatches::batches_per_epoch() const {
  return batch_count(int64_t(indices_.size()), batch_size_, drop_last_);
}

std::vector<std::vector<int64_t>> ShuffledBatches::epoch(int64_t epoch) const {
  const std::vector<int64_t> order = shuffle_ ? shuffled(indices_, seed_, epoch) : indices_;
  std::vector<std::vector<int64_t>> out;
  for (int64_t b = 0; b < batches_per_epoch(); ++b) {
    const int64_t begin = b * batch_size_, end = std::min(begin + batch_size_, int64_t(order.size()));
    out.emplace_back(order.begin() + begin, order.begin() + end);
  }
  return out;
}

LengthBucketedBatches::LengthBucketedBatches(std::vector<int64_t> indices, std::vector<int64_t> lengths,
                                             int64_t batch_size, bool drop_last, uint64_t seed,
                                             int64_t bucket_batches)
    : indices_(std::move(indices)), lengths_(std::move(lengths)),
      batch_size_(batch_size), bucket_size_(batch_size * std::max<int64_t>(bucket_batches, 1)),
      drop_last_(drop_last), seed_(seed) {
  HEED_CHECK(batch_size > 0, "batches: batch_size must be positive, got ", batch_size);
  for (int64_t i : indices_)
    HEED_CHECK(i >= 0 && i < int64_t(lengths_.size()), "batches: index ", i, " has no length");
  const int64_t n = int64_t(indices_.size());
  for (int64_t start = 0; start < n; start += bucket_size_)
    batches_ += batch_count(std::min(bucket_size_, n - start), batch_size_, drop_last_);
}

int64_t LengthBucketedBatches::batches_per_epoch() const { return batches_; }

std::vector<std::vector<int64_t>> LengthBucketedBatches::epoch(int64_t epoch) const {
  const std::vector<int64_t> order = shuffled(indices_, seed_, epoch);
  std::vector<std::vector<int64_t>> out;
  for (size_t start = 0; start < order.size(); start += size_t(bucket_size_)) {
    std::vector<int64_t> bucket(order.begin() + long(start),
                                order.begin() + long(std::min(order.size(), start + size_t(bucket_size_))));
    std::stable_sort(bucket.begin(), bucket.end(),
                     [&](int64_t a, int64_t b) { return lengths_[size_t(a)] < lengths_[size_t(b)]; });
    const int64_t count = batch_count(int64_t(bucket.size()), batch_size_, drop_last_);
    for (int64_t b = 0; b < count; ++b) {
      const int64_t begin = b * batch_size_, end = std::min(begin + batch_size_, int64_t(bucket.size()));
      out.emplace_back(bucket.begin() + begin, bucket.begin() + end);
    }
  }
  Rng rng(random_bits(seed_, uint64_t(epoch)) + 1);
  for (size_t i = out.size(); i > 1; --i) std::swap(out[i - 1], out[rng.below(i)]);
  return out;
}

TokenBudgetBatches::TokenBudgetBatches(std::vector<int64_t> indices, const std::vector<int64_t>& lengths,
                                       int64_t batch_tokens, uint64_t seed)
    : seed_(seed) {
  HEED_CHECK(batch_tokens > 0, "batches: train.batch_tokens must be positive, got ", batch_tokens);
  for (int64_t i : indices)
    HEED_CHECK(i >= 0 && i < int64_t(lengths.size()), "batches: index ", i, " has no length");
  std::vector<int64_t> order = shuffled(std::move(indices), seed, 0);  // the seeded tie-break
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return lengths[size_t(a)] < lengths[size_t(b)]; });
  if (!order.empty()) {
    const int64_t longest = order.back(), tokens = std::max<int64_t>(lengths[size_t(longest)], 1);
    HEED_CHECK(tokens <= batch_tokens, "train.batch_tokens = ", batch_tokens, " is smaller than the longest "
               "training sample (", tokens, " tokens, sample ", longest, "): set it to at least ", tokens);
  }
  std::vector<int64_t> batch;
  for (int64_t i : order) {  // ascending lengths: the newest member is the longest
    const int64_t tokens = std::max<int64_t>(lengths[size_t(i)], 1);
    if (!batch.empty() && (int64_t(batch.size()) + 1) * tokens > batch_tokens) {
      batches_.push_back(std::move(batch));
      batch.clear();
    }
    batch.push_back(i);
  }
  if (!batch.empty()) batches_.push_back(std::move(batch));
}

std::vector<std::vector<int64_t>> TokenBudgetBatches::epoch(int64_t epoch) const {
  std::vector<std::vector<int64_t>> out = batches_;
  Rng rng(random_bits(seed_, uint64_t(epoch)) + 1);
  for (size_t i = out.size(); i > 1; --i) std::swap(out[i - 1], out[rng.below(i)]);
  return out;
}

std::unique_ptr<BatchPlan> training_plan(std::vector<int64_t> indices, std::vector<int64_t> lengths,
                                         const TrainOptions& o, int64_t bucket_batches) {
  if (o.batch_tokens > 0)
    return std::make_unique<TokenBudgetBatches>(std::move(indices), lengths, o.batch_tokens, o.seed);
  if (bucket_batches > 0)
    return std::make_unique<LengthBucketedBatches>(std::move(indices), std::move(lengths), o.batch_size, false, o.seed,
                                                   bucket_batches);
  return std::make_unique<ShuffledBatches>(std::move(indices), o.batch_size, true, false, o.seed);
}

BatchLoader::BatchLoader(const Dataset& data, const BatchPlan& plan, uint64_t seed, bool training)
    : data_(data), plan_(plan), seed_(seed), training_(training) {}

BatchLoader::~BatchLoader() { stop(); }

bool BatchLoader::push(nn::Batch batch) {
  std::unique_lock lock(mutex_);
  has_space_.wait(lock, [&] { return stopping_ || queue_.size() < kPrefetch; });
  if (stopping_) return false;
  queue_.push_back(std::move(batch));
  has_batch_.notify_one();
  return true;
}

void BatchLoader::produce(std::vector<std::vector<int64_t>> batches, int64_t epoch, int64_t first) {
  try {
    const BatchContext context{epoch, seed_, training_};
    for (size_t b = size_t(first); b < batches.size(); ++b) {
      {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
      }
      if (!push(data_.batch(batches[b], context))) return;
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
             "BatchLoader::start_epoch: skip_batches must be in [0, ", batches_per_epoch(), "], got ",
             skip_batches);
  stop();
  started_ = false;  // marked started only once a producer exists: next() would wait for nobody
  producer_ = std::thread(&BatchLoader::produce, this, plan_.epoch(epoch), epoch, skip_batches);
  started_ = true;
}

std::optional<nn::Batch> BatchLoader::next() {
  HEED_CHECK(started_, "BatchLoader::next: call start_epoch first");
  std::unique_lock lock(mutex_);
  has_batch_.wait(lock, [&] { return !queue_.empty() || finished_; });
  if (!queue_.empty()) {
    nn::Batch batch = std::move(queue_.front());
    queue_.pop_front();
    has_space_.notify_one();
    return batch;
  }
  if (error_) std::rethrow_exception(error_);
  return std::nullopt;
}

}  // namespace heed::train
