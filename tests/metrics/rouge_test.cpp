// ROUGE against counts worked out by hand (the rouge-score package's defaults: lower case,
// non-alphanumerics separate tokens, no stemming; F1 = 2PR / (P + R)).
#include "heed/metrics/rouge.h"

#include <gtest/gtest.h>

#include "heed/core/error.h"

namespace heed::metrics {
namespace {

TEST(Rouge, TokensAreLowerCasedAlphanumericRuns) {
  EXPECT_EQ(rouge_tokens("GNU C-library, v2.36!"), (std::vector<std::string>{"gnu", "c", "library", "v2", "36"}));
  EXPECT_TRUE(rouge_tokens(" -- ").empty());
}

TEST(Rouge, HandCountedScores) {
  // candidate: the cat sat on the mat (6); reference: the cat is on the mat (6).
  // unigrams: the x2, cat, on, mat match: 5 of 6 each way -> F1 5/6.
  // bigrams: "the cat", "on the", "the mat" match: 3 of 5 -> F1 0.6.
  // LCS: the cat on the mat (5) -> F1 5/6.
  const RougeScores s = rouge("The cat sat on the mat.", "the cat is on the mat");
  EXPECT_NEAR(s.rouge1, 5.0 / 6, 1e-12);
  EXPECT_NEAR(s.rouge2, 0.6, 1e-12);
  EXPECT_NEAR(s.rougeL, 5.0 / 6, 1e-12);
  // Unequal lengths: candidate "a b c d" (4), reference "b d e" (3): unigram overlap 2 -> P 1/2,
  // R 2/3, F1 4/7; no bigram in common; LCS "b d" -> 4/7.
  const RougeScores u = rouge("a b c d", "b d e");
  EXPECT_NEAR(u.rouge1, 4.0 / 7, 1e-12);
  EXPECT_EQ(u.rouge2, 0);
  EXPECT_NEAR(u.rougeL, 4.0 / 7, 1e-12);
  // Repeats are clipped: "the the the" against "the cat": overlap 1, P 1/3, R 1/2 -> F1 0.4.
  EXPECT_NEAR(rouge("the the the", "the cat").rouge1, 0.4, 1e-12);
  EXPECT_EQ(rouge("", "the cat").rougeL, 0);
}

TEST(Rouge, CorpusScoreIsTheMeanOfTheSummaries) {
  const RougeScores c = corpus_rouge({"a b c d", "x"}, {"b d e", "x"});
  EXPECT_NEAR(c.rouge1, (4.0 / 7 + 1.0) / 2, 1e-12);
  EXPECT_NEAR(c.rougeL, (4.0 / 7 + 1.0) / 2, 1e-12);
  EXPECT_THROW(corpus_rouge({"a"}, {}), Error);
}

}  // namespace
}  // namespace heed::metrics
