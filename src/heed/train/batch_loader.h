// Batches for the trainer: a plan says which samples each batch of an epoch holds, a Dataset
// makes them, and a BatchLoader prepares up to kPrefetch batches ahead on a background thread.
//
// Reproducibility: a plan's epoch is a pure function of (seed, epoch), and a batch of
// (indices, epoch, seed), never of timing or thread count, so a run resumed mid-epoch with
// start_epoch(epoch, skip_batches) sees exactly the batches it would have.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "heed/train/options.h"
#include "heed/train/task.h"

namespace heed::train {

// `indices` in the order Fisher-Yates gives with Rng(random_bits(seed, epoch)).
std::vector<int64_t> shuffled(std::vector<int64_t> indices, uint64_t seed, int64_t epoch);

class BatchPlan {
 public:
  virtual ~BatchPlan() = default;
  virtual int64_t batches_per_epoch() const = 0;  // the same for every epoch
  virtual std::vector<std::vector<int64_t>> epoch(int64_t epoch) const = 0;
};

// Batches of `batch_size` consecutive samples of `indices`, in the order Fisher-Yates gives with
// Rng(random_bits(seed, epoch)) (or as given, without shuffle). The last, short batch is
// dropped with drop_last.
class ShuffledBatches : public BatchPlan {
 public:
  ShuffledBatches(std::vector<int64_t> indices, int64_t batch_size, bool shuffle, bool drop_last,
                  uint64_t seed);
  int64_t batches_per_epoch() const override;
  std::vector<std::vector<int64_t>> epoch(int64_t epoch) const override;

 private:
  std::vector<int64_t> indices_;
  int64_t batch_size_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
};

// Batches of similar lengths, so short samples do not pay for the longest of a random batch
// (padding): the epoch's shuffled order (as above) is cut into buckets of `bucket_batches`
// batches' worth of samples; each bucket is sorted by length (stably) and cut into batches; then
// the batches of the epoch are shuffled (Rng(random_bits(seed, epoch) + 1)). Every sample is
// seen once per epoch, as with ShuffledBatches.
class LengthBucketedBatches : public BatchPlan {
 public:
  LengthBucketedBatches(std::vector<int64_t> indices, std::vector<int64_t> lengths, int64_t batch_size,
                        bool drop_last, uint64_t seed, int64_t bucket_batches = 50);
  int64_t batches_per_epoch() const override;
  std::vector<std::vector<int64_t>> epoch(int64_t epoch) const override;

 private:
  std::vector<int64_t> indices_;
  std::vector<int64_t> lengths_;  // by dataset index
  int64_t batch_size_, bucket_size_;
  bool drop_last_;
  uint64_t seed_;
  int64_t batches_ = 0;
};

// Batches of at most `batch_tokens` tokens, padding counted (rows x the longest member's length),
// as fairseq's --max-tokens and Marian's --mini-batch-words make them: the samples, in a seeded
// order, are sorted by length (stably) and cut greedily once, so short samples travel in many-row
// batches and long ones in few; each epoch shuffles the order of these batches
// (Rng(random_bits(seed, epoch) + 1)). A batch keeps its members from epoch to epoch (fairseq's
// choice), which keeps the steps per epoch fixed for the schedule and for resuming. Throws,
// naming train.batch_tokens and the longest sample, when one sample alone exceeds the budget.
class TokenBudgetBatches : public BatchPlan {
 public:
  TokenBudgetBatches(std::vector<int64_t> indices, const std::vector<int64_t>& lengths, int64_t batch_tokens,
                     uint64_t seed);
  int64_t batches_per_epoch() const override { return int64_t(batches_.size()); }
  std::vector<std::vector<int64_t>> epoch(int64_t epoch) const override;

 private:
  std::vector<std::vector<int64_t>> batches_;
  uint64_t seed_;
};

// The training plan of a task whose samples have lengths: batches of train.batch_tokens tokens
// when it is set, else length-bucketed batches of train.batch_size (bucket_batches > 0), else
// shuffled ones. `lengths` is by dataset index.
std::unique_ptr<BatchPlan> training_plan(std::vector<int64_t> indices, std::vector<int64_t> lengths,
                                         const TrainOptions& options, int64_t bucket_batches);

// Serves one epoch's batches in the plan's order, made on a background thread. Not thread-safe
// itself: one thread calls start_epoch() and next(). The dataset and plan must outlive it.
class BatchLoader {
 public:
  static constexpr size_t kPrefetch = 3;

  BatchLoader(const Dataset& data, const BatchPlan& plan, uint64_t seed, bool training);
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // Stops any running epoch and starts `epoch` at batch `skip_batches` (to resume mid-epoch;
  // 0 <= skip_batches <= batches_per_epoch()).
  void start_epoch(int64_t epoch, int64_t skip_batches = 0);
  // The next batch of the epoch, or nullopt once it is over. An exception raised while making a
  // batch is rethrown here, after the batches made before it.
  std::optional<nn::Batch> next();
  int64_t batches_per_epoch() const { return plan_.batches_per_epoch(); }

 private:
  void produce(std::vector<std::vector<int64_t>> batches, int64_t epoch, int64_t first);
  bool push(nn::Batch batch);  // false when asked to stop
  void stop();

  const Dataset& data_;
  const BatchPlan& plan_;
  uint64_t seed_;
  bool training_;

  std::mutex mutex_;  // guards the producer/consumer state below
  std::condition_variable has_space_, has_batch_;
  std::deque<nn::Batch> queue_;
  bool stopping_ = false, finished_ = false;
  std::exception_ptr error_;
  bool started_ = false;  // consumer side only
  std::thread producer_;
};

}  // namespace heed::train
