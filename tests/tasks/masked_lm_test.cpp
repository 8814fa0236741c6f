// BERT's masking in MaskedLmDataset (tasks/masked_lm.h), counted over many tokens against the
// objective's own numbers: 15% of the ordinary tokens chosen, of those 80% [MASK], 10% another
// piece, 10% unchanged; special tokens and padding never chosen; a pure function of (seed,
// epoch, sample); one fixed masking for evaluation. And the classifier's word dropout
// (TextDataset's token_dropout), counted the same way.
#include "heed/tasks/masked_lm.h"

#include <gtest/gtest.h>

#include <cmath>

#include "heed/core/rng.h"

namespace heed::tasks {
namespace {

constexpr int64_t kVocab = 500, kMaxLen = 64;

std::vector<std::vector<int32_t>> sequences(int n) {
  Rng rng(5);
  std::vector<std::vector<int32_t>> out;
  for (int i = 0; i < n; ++i) {
    std::vector<int32_t> s = {data::Tokenizer::kCls};
    const int64_t length = 8 + int64_t(rng.below(kMaxLen - 9));
    for (int64_t p = 1; p < length; ++p)
      s.push_back(p % 11 == 0 ? data::Tokenizer::kSep : int32_t(5 + rng.below(uint64_t(kVocab - 5))));
    out.push_back(std::move(s));
  }
  return out;
}

std::vector<int64_t> ints(const Tensor& t) { return std::vector<int64_t>(t.i64(), t.i64() + t.numel()); }

struct Counts {
  double ordinary = 0, chosen = 0, masked = 0, replaced = 0, kept = 0, special_chosen = 0;
};

Counts count(const MaskedLmDataset& data, const nn::Batch& batch) {
  Counts c;
  const Tensor& tokens = batch.at("tokens");
  const Tensor& labels = batch.at("mlm_labels");
  const int64_t t = tokens.size(1);
  for (int64_t r = 0; r < tokens.size(0); ++r) {
    const std::vector<int32_t>& original = data.sequences()[size_t(batch.indices[size_t(r)])];
    for (int64_t p = 0; p < t; ++p) {
      const int64_t label = labels.i64()[r * t + p], token = tokens.i64()[r * t + p];
      const bool in_text = p < int64_t(original.size());
      const bool ordinary = in_text && original[size_t(p)] > data::Tokenizer::kMask;
      c.ordinary += ordinary;
      if (label == -100) {
        EXPECT_EQ(token, in_text ? original[size_t(p)] : 0) << "an unchosen position changed";
        continue;
      }
      if (!ordinary) {
        ++c.special_chosen;
        continue;
      }
      EXPECT_EQ(label, original[size_t(p)]);
      ++c.chosen;
      if (token == data::Tokenizer::kMask)
        ++c.masked;
      else if (token == label)
        ++c.kept;
      else {
        ++c.replaced;
        EXPECT_GT(token, data::Tokenizer::kMask) << "a random replacement is an ordinary piece";
        EXPECT_LT(token, kVocab);
      }
    }
  }
  return c;
}

// |observed - expected| within 4.5 standard deviations of a binomial count.
void expect_rate(double hits, double trials, double p, const char* what) {
  const double sd = std::sqrt(trials * p * (1 - p));
  EXPECT_NEAR(hits, trials * p, 4.5 * sd) << what << ": " << hits << " of " << trials;
}

TEST(MaskedLm, MaskingFollowsBert) {
  const MaskedLmDataset data(sequences(2000), kVocab, 0.15, kMaxLen);
  std::vector<int64_t> all(2000);
  for (int64_t i = 0; i < 2000; ++i) all[size_t(i)] = i;
  const nn::Batch batch = data.batch(all, {3, 17, true});
  const Counts c = count(data, batch);
  ASSERT_GT(c.ordinary, 50000);
  EXPECT_EQ(c.special_chosen, 0) << "[CLS], [SEP] and padding are never chosen";
  expect_rate(c.chosen, c.ordinary, 0.15, "chosen");
  // A random replacement equals the original with probability 1 / 495: counted as kept.
  const double same = 1.0 / double(kVocab - data::Tokenizer::kMask - 1);
  expect_rate(c.masked, c.chosen, 0.8, "[MASK]");
  expect_rate(c.replaced, c.chosen, 0.1 * (1 - same), "random piece");
  expect_rate(c.kept, c.chosen, 0.1 + 0.1 * same, "unchanged");
}

TEST(MaskedLm, MaskingIsAPureFunctionOfSeedEpochAndSample) {
  const MaskedLmDataset data(sequences(64), kVocab, 0.15, kMaxLen);
  const std::vector<int64_t> some = {5, 9, 2, 40};
  const nn::Batch a = data.batch(some, {1, 7, true});
  EXPECT_EQ(ints(a.at("tokens")), ints(data.batch(some, {1, 7, true}).at("tokens")));
  EXPECT_NE(ints(a.at("mlm_labels")), ints(data.batch(some, {2, 7, true}).at("mlm_labels")));
  EXPECT_NE(ints(a.at("mlm_labels")), ints(data.batch(some, {1, 8, true}).at("mlm_labels")));
  // A sample is masked the same whichever batch holds it.
  const nn::Batch alone = data.batch({9}, {1, 7, true});
  const int64_t t = a.at("tokens").size(1), ta = alone.at("tokens").size(1);
  for (int64_t p = 0; p < ta; ++p) EXPECT_EQ(alone.at("mlm_labels").i64()[p], a.at("mlm_labels").i64()[t + p]);
  // Evaluation: one masking, whatever the epoch.
  EXPECT_EQ(ints(data.batch(some, {0, 7, false}).at("mlm_labels")),
            ints(data.batch(some, {5, 7, false}).at("mlm_labels")));
}

TEST(TextDataset, TokenDropoutReplacesOrdinaryTokensInTrainingOnly) {
  const std::vector<std::vector<int32_t>> seqs = sequences(1500);
  const TextDataset data(seqs, std::vector<int64_t>(seqs.size(), 0), 0.2);
  std::vector<int64_t> all(seqs.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = int64_t(i);
  const nn::Batch train = data.batch(all, {2, 11, true});
  const Tensor& tokens = train.at("tokens");
  const int64_t t = tokens.size(1);
  double ordinary = 0, dropped = 0;
  for (size_t r = 0; r < seqs.size(); ++r)
    for (size_t p = 0; p < seqs[r].size(); ++p) {
      const int64_t got = tokens.i64()[int64_t(r) * t + int64_t(p)];
      if (seqs[r][p] <= data::Tokenizer::kMask) {
        EXPECT_EQ(got, seqs[r][p]) << "special tokens stay";
        continue;
      }
      ++ordinary;
      if (got == data::Tokenizer::kMask)
        ++dropped;
      else
        EXPECT_EQ(got, seqs[r][p]);
    }
  expect_rate(dropped, ordinary, 0.2, "dropped");
  EXPECT_EQ(ints(tokens), ints(data.batch(all, {2, 11, true}).at("tokens")));
  EXPECT_NE(ints(tokens), ints(data.batch(all, {3, 11, true}).at("tokens")));
  // Evaluation batches are the text as it is.
  const TextDataset plain(seqs, std::vector<int64_t>(seqs.size(), 0));
  EXPECT_EQ(ints(data.batch(all, {2, 11, false}).at("tokens")), ints(plain.batch(all, {2, 11, true}).at("tokens")));
  EXPECT_THROW(TextDataset(seqs, {}, 1.0), Error);
}

}  // namespace
}  // namespace heed::tasks
