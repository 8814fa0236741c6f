// BLEU and chrF against NLTK (tests/golden/bleu, made by tools/make_golden_bleu.py from
// corpus_bleu and chrf_precision_recall_fscore_support) and against figures worked out by hand
// for what NLTK does not do the same way (sacreBLEU's smoothing and its corpus chrF).
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "heed/core/error.h"
#include "heed/metrics/bleu.h"
#include "heed/metrics/chrf.h"
#include "test_files.h"

namespace heed::metrics {
namespace {

using nlohmann::json;

json golden(const std::string& name) { return test::read_golden_json("bleu/" + name + ".json"); }

class BleuGolden : public ::testing::TestWithParam<const char*> {};

TEST_P(BleuGolden, TokensBleuAndChrfCountsMatchNltk) {
  const json g = golden(GetParam());
  std::vector<std::string> candidates, references;
  double nltk_macro = 0;  // NLTK's corpus_chrf: the mean over sentences and orders of the F-scores
  for (const json& p : g["pairs"]) {
    candidates.push_back(p["candidate"]);
    references.push_back(p["reference"]);
    EXPECT_EQ(bleu_tokens(p["candidate"]), p["candidate_tokens"].get<std::vector<std::string>>());
    EXPECT_EQ(bleu_tokens(p["reference"]), p["reference_tokens"].get<std::vector<std::string>>());
    const ChrfStatistics s = chrf_statistics(p["candidate"], p["reference"]);
    for (const json& o : p["chrf"]) {
      const size_t n = o["order"].get<size_t>() - 1;
      EXPECT_EQ(s.matches[n], o["matches"].get<int64_t>()) << p["candidate"] << " order " << n + 1;
      const double precision = double(s.matches[n]) / double(s.candidate[n]);
      const double recall = double(s.matches[n]) / double(s.reference[n]);
      EXPECT_NEAR(precision, o["precision"].get<double>(), 1e-12);
      EXPECT_NEAR(recall, o["recall"].get<double>(), 1e-12);
      const double f = precision + recall > 0 ? 5 * precision * recall / (4 * precision + recall) : 1e-16;
      EXPECT_NEAR(f, o["fscore"].get<double>(), 1e-12);
      nltk_macro += f;
    }
  }
  nltk_macro /= double(kChrfOrder * candidates.size());
  EXPECT_NEAR(nltk_macro, g["chrf_nltk"].get<double>(), 1e-12);
  EXPECT_NEAR(corpus_bleu(candidates, references).score, g["bleu"].get<double>(), 1e-9);
}

INSTANTIATE_TEST_SUITE_P(Nltk, BleuGolden, ::testing::Values("descriptions_de", "short_candidates"));

TEST(Bleu, TokensFollowThe13aRules) {
  EXPECT_EQ(bleu_tokens("v1.2, 3.4-5 a.b x,y (c)"),
            (std::vector<std::string>{"v1.2", ",", "3.4", "-", "5", "a", ".", "b", "x", ",", "y", "(", "c", ")"}));
  EXPECT_EQ(bleu_tokens("it's &lt;ok&gt; &amp; \"so\""),
            (std::vector<std::string>{"it's", "<", "ok", ">", "&", "\"", "so", "\""}));
  EXPECT_EQ(bleu_tokens("\xc2\xa0 a\xe2\x80\x83" "b "), (std::vector<std::string>{"a", "b"}));  // NBSP, em space
  EXPECT_TRUE(bleu_tokens("").empty());
}

TEST(Bleu, HandCountedScoreWithBrevityPenaltyAndSmoothing) {
  // candidate "a b c d e" (5 tokens) against "a b c x e f" (6): matches 4/5 unigrams, 2/4 bigrams
  // (a b, b c), 1/3 trigrams (a b c), 0/2 4-grams -> sacreBLEU's exp smoothing puts 1/(2 * 2).
  // BP = exp(1 - 6/5).
  const BleuScore s = corpus_bleu({"a b c d e"}, {"a b c x e f"});
  const double expected = 100 * std::exp(1 - 6.0 / 5) * std::pow(0.8 * 0.5 * (1.0 / 3) * 0.25, 0.25);
  EXPECT_NEAR(s.score, expected, 1e-9);
  EXPECT_NEAR(s.precisions[0], 80, 1e-12);
  EXPECT_EQ(s.precisions[3], 0);
  EXPECT_NEAR(s.brevity_penalty, std::exp(-0.2), 1e-12);
  EXPECT_EQ(s.candidate_length, 5);
  EXPECT_EQ(s.reference_length, 6);
  // Identical texts score 100; an empty output 0; a corpus with lines shorter than 4 tokens has no
  // 4-grams at all and scores 0, as in sacreBLEU.
  EXPECT_NEAR(corpus_bleu({"the cat sat on the mat"}, {"the cat sat on the mat"}).score, 100, 1e-9);
  EXPECT_EQ(corpus_bleu({""}, {"the cat"}).score, 0);
  EXPECT_EQ(corpus_bleu({"a b"}, {"a b"}).score, 0);
  EXPECT_THROW(corpus_bleu({"a"}, {}), Error);
}

TEST(Chrf, CorpusScoreSumsCountsThenAveragesPrecisionAndRecall) {
  // "ab" against "abc": order 1: 2 of 2 candidate, 2 of 3 reference; order 2: 1/1, 1/2; order 3
  // has no candidate trigram and is left out; orders 4-6 too. P = 1, R = (2/3 + 1/2) / 2 = 7/12.
  const double p = 1, r = 7.0 / 12;
  EXPECT_NEAR(corpus_chrf({"a b"}, {"abc"}), 100 * 5 * p * r / (4 * p + r), 1e-9);
  // Two lines: counts add before any division. "ab"/"ab" adds 2/2 unigrams and 1/1 bigrams.
  const double p2 = 1, r2 = (4.0 / 5 + 2.0 / 3) / 2;
  EXPECT_NEAR(corpus_chrf({"ab", "a b"}, {"ab", "abc"}), 100 * 5 * p2 * r2 / (4 * p2 + r2), 1e-9);
  EXPECT_NEAR(corpus_chrf({"Grüße"}, {"Grüße"}), 100, 1e-9);  // code points, not bytes
  EXPECT_EQ(chrf_statistics("ü", "ü").candidate[0], 1);
  EXPECT_EQ(corpus_chrf({""}, {"abc"}), 0);
  EXPECT_EQ(corpus_chrf({"xyz"}, {"abc"}), 0);
}

}  // namespace
}  // namespace heed::metrics
