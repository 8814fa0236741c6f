// Batch plans (train/batch_loader.h): every sample once per epoch, epochs a pure function of
// (seed, epoch), and length bucketing that cuts padding, measured here independently of
// tasks::padding_overhead on a long-tailed length distribution like mail's.
#include "heed/train/batch_loader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "heed/core/rng.h"

namespace heed::train {
namespace {

std::vector<int64_t> iota(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

// Every index of `expected` exactly once across the epoch's batches.
void expect_each_once(const std::vector<std::vector<int64_t>>& epoch, std::vector<int64_t> expected) {
  std::vector<int64_t> seen;
  for (const auto& b : epoch) seen.insert(seen.end(), b.begin(), b.end());
  std::sort(seen.begin(), seen.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(seen, expected);
}

// Padded tokens / real tokens - 1, each batch padded to its longest member.
double overhead(const std::vector<std::vector<int64_t>>& epoch, const std::vector<int64_t>& lengths) {
  double real = 0, padded = 0;
  for (const auto& b : epoch) {
    int64_t longest = 0;
    for (int64_t i : b) {
      real += double(lengths[size_t(i)]);
      longest = std::max(longest, lengths[size_t(i)]);
    }
    padded += double(longest) * double(b.size());
  }
  return padded / real - 1;
}

// Lengths from 3 to 256 with a long tail (truncated at 256, as max_tokens does).
std::vector<int64_t> mail_like_lengths(int64_t n) {
  Rng rng(7);
  std::vector<int64_t> out;
  for (int64_t i = 0; i < n; ++i) out.push_back(std::min<int64_t>(256, 3 + int64_t(-80.0 * std::log(1.0 - rng.uniform()))));
  return out;
}

TEST(BatchPlan, ShuffledEpochsArePureFunctionsOfSeedAndEpoch) {
  const std::vector<int64_t> indices = {3, 5, 8, 13, 21, 34, 55, 89, 144, 233};
  const ShuffledBatches plan(indices, 3, true, false, 42);
  EXPECT_EQ(plan.batches_per_epoch(), 4);
  const auto e0 = plan.epoch(0), e1 = plan.epoch(1);
  ASSERT_EQ(e0.size(), 4u);
  EXPECT_EQ(e0.back().size(), 1u);  // 10 = 3 + 3 + 3 + 1
  expect_each_once(e0, indices);
  expect_each_once(e1, indices);
  EXPECT_NE(e0, e1);
  EXPECT_EQ(ShuffledBatches(indices, 3, true, false, 42).epoch(1), e1);
  EXPECT_NE(ShuffledBatches(indices, 3, true, false, 43).epoch(1), e1);
  const ShuffledBatches dropping(indices, 3, true, true, 42);
  EXPECT_EQ(dropping.batches_per_epoch(), 3);
  for (const auto& b : dropping.epoch(0)) EXPECT_EQ(b.size(), 3u);
  const ShuffledBatches ordered(indices, 4, false, false, 42);
  EXPECT_EQ(ordered.epoch(5)[0], (std::vector<int64_t>{3, 5, 8, 13}));
}

TEST(BatchPlan, LengthBucketingCoversEverySampleAndCutsPadding) {
  const int64_t n = 3000, batch = 32;
  const std::vector<int64_t> lengths = mail_like_lengths(n);
  const LengthBucketedBatches bucketed(iota(n), lengths, batch, false, 9, 50);
  const ShuffledBatches random(iota(n), batch, true, false, 9);
  EXPECT_EQ(bucketed.batches_per_epoch(), (n + batch - 1) / batch);
  double worst_bucketed = 0, best_random = 1e9;
  for (int64_t e = 0; e < 3; ++e) {
    const auto epoch = bucketed.epoch(e);
    EXPECT_EQ(int64_t(epoch.size()), bucketed.batches_per_epoch());
    expect_each_once(epoch, iota(n));
    worst_bucketed = std::max(worst_bucketed, overhead(epoch, lengths));
    best_random = std::min(best_random, overhead(random.epoch(e), lengths));
  }
  // Random batches of this distribution pad by ~100% (most batches hold one 256-token sample);
  // sorted windows of 50 batches leave a few percent.
  EXPECT_GT(best_random, 0.5);
  EXPECT_LT(worst_bucketed, 0.06);
  // Pure function of (seed, epoch); batches are shuffled, so long and short ones alternate.
  EXPECT_EQ(LengthBucketedBatches(iota(n), lengths, batch, false, 9, 50).epoch(2), bucketed.epoch(2));
  EXPECT_NE(bucketed.epoch(1), bucketed.epoch(2));
  const auto epoch = bucketed.epoch(0);
  std::vector<int64_t> longest;
  for (const auto& b : epoch) longest.push_back(lengths[size_t(b.back())]);  // sorted within a bucket
  EXPECT_FALSE(std::is_sorted(longest.begin(), longest.end()));
}

TEST(BatchPlan, LengthBucketingDropLastKeepsFullBatches) {
  const std::vector<int64_t> lengths = mail_like_lengths(100);
  const LengthBucketedBatches plan(iota(100), lengths, 8, true, 1, 4);
  for (const auto& b : plan.epoch(0)) EXPECT_EQ(b.size(), 8u);
  EXPECT_EQ(int64_t(plan.epoch(0).size()), plan.batches_per_epoch());
  // Buckets of 32 samples: 100 = 3 x 32 + 4, each full bucket gives 4 batches, the last none.
  EXPECT_EQ(plan.batches_per_epoch(), 12);
}

TEST(BatchPlan, TokenBudgetBatchesHoldAtMostTheBudgetPaddingCounted) {
  const int64_t n = 3000, budget = 1024;
  const std::vector<int64_t> lengths = mail_like_lengths(n);
  const TokenBudgetBatches plan(iota(n), lengths, budget, 9);
  size_t most_rows_short = 0, most_rows_long = 0;
  for (int64_t e = 0; e < 3; ++e) {
    const auto epoch = plan.epoch(e);
    EXPECT_EQ(int64_t(epoch.size()), plan.batches_per_epoch());
    expect_each_once(epoch, iota(n));
    for (const auto& b : epoch) {
      int64_t longest = 0;
      for (int64_t i : b) longest = std::max(longest, lengths[size_t(i)]);
      EXPECT_LE(int64_t(b.size()) * longest, budget);
      if (longest <= 16) most_rows_short = std::max(most_rows_short, b.size());
      if (longest == 256) most_rows_long = std::max(most_rows_long, b.size());
    }
    // Cut from the fully sorted set: only the last few members of a batch differ in length.
    EXPECT_LT(overhead(epoch, lengths), 0.02);
  }
  EXPECT_EQ(most_rows_long, 4u);     // 1024 / 256
  EXPECT_GE(most_rows_short, 64u);   // 1024 / 16
  // Fixed batches, a new order each epoch; a pure function of (seed, epoch).
  auto sorted = [](std::vector<std::vector<int64_t>> e) {
    std::sort(e.begin(), e.end());
    return e;
  };
  EXPECT_EQ(sorted(plan.epoch(0)), sorted(plan.epoch(1)));
  EXPECT_NE(plan.epoch(0), plan.epoch(1));
  EXPECT_EQ(TokenBudgetBatches(iota(n), lengths, budget, 9).epoch(2), plan.epoch(2));
}

TEST(BatchPlan, TokenBudgetCutsGreedilyAndRefusesASampleOverTheBudget) {
  // Ten samples of 10 tokens and a budget of 35: batches of 3, 3, 3 and 1.
  const TokenBudgetBatches even(iota(10), std::vector<int64_t>(10, 10), 35, 1);
  std::vector<size_t> sizes;
  for (const auto& b : even.epoch(0)) sizes.push_back(b.size());
  std::sort(sizes.begin(), sizes.end());
  EXPECT_EQ(sizes, (std::vector<size_t>{1, 3, 3, 3}));
  try {
    TokenBudgetBatches(iota(3), {5, 300, 7}, 256, 1);
    FAIL() << "a 300-token sample fitted a 256-token budget";
  } catch (const std::exception& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("train.batch_tokens = 256"), std::string::npos) << what;
    EXPECT_NE(what.find("300 tokens, sample 1"), std::string::npos) << what;
  }
}

TEST(BatchPlan, TrainingPlanFollowsTheOptions) {
  const std::vector<int64_t> lengths = mail_like_lengths(200);
  TrainOptions o;
  o.batch_size = 16;
  EXPECT_NE(dynamic_cast<LengthBucketedBatches*>(training_plan(iota(200), lengths, o, 50).get()), nullptr);
  EXPECT_NE(dynamic_cast<ShuffledBatches*>(training_plan(iota(200), lengths, o, 0).get()), nullptr);
  o.batch_tokens = 2048;
  EXPECT_NE(dynamic_cast<TokenBudgetBatches*>(training_plan(iota(200), lengths, o, 50).get()), nullptr);
  EXPECT_EQ(batch_rows(o, 256), 8);
  o.batch_tokens = 0;
  EXPECT_EQ(batch_rows(o, 256), 16);
}

}  // namespace
}  // namespace heed::train
