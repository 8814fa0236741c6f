#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/metrics/classification.h"
#include "heed/metrics/ranking.h"
#include "test_files.h"

namespace heed::metrics {
namespace {

using nlohmann::json;

constexpr double kTol = 1e-12;

// ---- helpers ----

// Golden files are written by tools/make_golden_metrics.py with scikit-learn.
json load_golden(const std::string& name) { return test::read_golden_json("metrics/" + name + ".json"); }

// The engine's report for a golden case's label vectors and class names.
ClassificationReport report_for(const json& golden) {
  return classification_report(golden.at("y_true").get<std::vector<int64_t>>(),
                               golden.at("y_pred").get<std::vector<int64_t>>(),
                               golden.at("class_names").get<std::vector<std::string>>());
}

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

void expect_contains(const std::string& message, std::initializer_list<std::string> parts) {
  for (const std::string& part : parts)
    EXPECT_NE(message.find(part), std::string::npos) << "\"" << part << "\" not in: " << message;
}

void expect_metrics(const ClassMetrics& m, const json& want, const std::string& name,
                    int64_t support) {
  EXPECT_EQ(m.name, name);
  EXPECT_NEAR(m.precision, want.at("precision").get<double>(), kTol) << name;
  EXPECT_NEAR(m.recall, want.at("recall").get<double>(), kTol) << name;
  EXPECT_NEAR(m.f1, want.at("f1").get<double>(), kTol) << name;
  EXPECT_EQ(m.support, support) << name;
}

// A small 3-class report with a UTF-8 class name ("café") and two-digit counts.
ClassificationReport small_report() {
  std::vector<int64_t> y_true, y_pred;
  auto add = [&](int64_t t, int64_t p, int count) {
    for (int i = 0; i < count; ++i) {
      y_true.push_back(t);
      y_pred.push_back(p);
    }
  };
  add(0, 0, 5);
  add(0, 2, 1);
  add(1, 1, 7);
  add(2, 0, 12);
  add(2, 2, 3);
  return classification_report(y_true, y_pred, {"cat", "dog", "café"});
}

// ---- classification report against scikit-learn ----

class GoldenReport : public ::testing::TestWithParam<const char*> {};

TEST_P(GoldenReport, NumbersMatchSklearn) {
  const json g = load_golden(GetParam());
  ASSERT_FALSE(g.empty());
  const auto names = g.at("class_names").get<std::vector<std::string>>();
  const ClassificationReport r = report_for(g);
  const int64_t total = g.at("total").get<int64_t>();
  ASSERT_EQ(r.classes.size(), names.size());
  for (size_t c = 0; c < names.size(); ++c) {
    const json want = {
        {"precision", g.at("precision")[c]}, {"recall", g.at("recall")[c]}, {"f1", g.at("f1")[c]}};
    expect_metrics(r.classes[c], want, names[c], g.at("support")[c].get<int64_t>());
  }
  EXPECT_NEAR(r.accuracy, g.at("accuracy").get<double>(), kTol);
  expect_metrics(r.macro_avg, g.at("macro_avg"), "macro avg", total);
  expect_metrics(r.weighted_avg, g.at("weighted_avg"), "weighted avg", total);
  EXPECT_EQ(r.total, total);
  EXPECT_EQ(r.confusion, g.at("confusion_matrix").get<std::vector<std::vector<int64_t>>>());
}

// The averages are summed in numpy's order, so they are the very same doubles.
TEST_P(GoldenReport, AveragesAreBitIdentical) {
  const json g = load_golden(GetParam());
  ASSERT_FALSE(g.empty());
  const ClassificationReport r = report_for(g);
  for (const auto& [m, key] :
       {std::pair{&r.macro_avg, "macro_avg"}, {&r.weighted_avg, "weighted_avg"}}) {
    EXPECT_EQ(m->precision, g.at(key).at("precision").get<double>()) << key;
    EXPECT_EQ(m->recall, g.at(key).at("recall").get<double>()) << key;
    EXPECT_EQ(m->f1, g.at(key).at("f1").get<double>()) << key;
  }
}

TEST_P(GoldenReport, TextMatchesSklearnByteForByte) {
  const json g = load_golden(GetParam());
  ASSERT_FALSE(g.empty());
  const ClassificationReport r = report_for(g);
  const std::string text = format_report(r, g.at("digits").get<int>());
  EXPECT_EQ(text, g.at("report").get<std::string>());
  // The row after the classes is "accuracy" unless a class occurs in neither vector.
  EXPECT_NE(text.find(g.at("summary_row").get<std::string>()), std::string::npos);
}

TEST_P(GoldenReport, JsonCarriesTheReport) {
  const json g = load_golden(GetParam());
  ASSERT_FALSE(g.empty());
  const ClassificationReport r = report_for(g);
  const json j = to_json(r);
  EXPECT_NEAR(j.at("accuracy").get<double>(), g.at("accuracy").get<double>(), kTol);
  EXPECT_EQ(j.at("total"), g.at("total"));
  EXPECT_EQ(j.at("class_names"), g.at("class_names"));
  EXPECT_EQ(j.at("confusion_matrix"), g.at("confusion_matrix"));
  ASSERT_EQ(j.at("classes").size(), g.at("class_names").size());
  for (size_t c = 0; c < j.at("classes").size(); ++c) {
    const json& m = j.at("classes")[c];
    EXPECT_EQ(m.at("name"), g.at("class_names")[c]);
    EXPECT_NEAR(m.at("precision").get<double>(), g.at("precision")[c].get<double>(), kTol);
    EXPECT_NEAR(m.at("recall").get<double>(), g.at("recall")[c].get<double>(), kTol);
    EXPECT_NEAR(m.at("f1").get<double>(), g.at("f1")[c].get<double>(), kTol);
    EXPECT_EQ(m.at("support"), g.at("support")[c]);
  }
  for (const char* key : {"macro_avg", "weighted_avg"}) {
    for (const char* field : {"precision", "recall", "f1"}) {
      EXPECT_NEAR(j.at(key).at(field).get<double>(), g.at(key).at(field).get<double>(), kTol)
          << key << "." << field;
    }
    EXPECT_EQ(j.at(key).at("support"), g.at("total"));
  }
  EXPECT_EQ(j.at("macro_avg").at("name"), "macro avg");
  EXPECT_EQ(j.at("weighted_avg").at("name"), "weighted avg");
}

INSTANTIATE_TEST_SUITE_P(Sklearn, GoldenReport,
                         ::testing::Values("fashion_mnist", "absent_class", "wide_digits",
                                           "all_wrong", "digits_zero", "long_name"),
                         [](const ::testing::TestParamInfo<const char*>& p) {
                           return std::string(p.param);
                         });

// The golden cases cover the situations they claim to (guards against a regenerated file that
// silently lost its point).
TEST(GoldenFiles, CasesCoverTheEdgeCases) {
  const json fashion = load_golden("fashion_mnist");
  ASSERT_FALSE(fashion.empty());
  EXPECT_EQ(fashion.at("class_names").size(), 10u);
  EXPECT_EQ(fashion.at("support")[9], 0) << "Ankle boot should have zero support";
  int64_t shirt_predicted = 0;
  for (const auto& row : fashion.at("confusion_matrix")) shirt_predicted += row[6].get<int64_t>();
  EXPECT_EQ(shirt_predicted, 0) << "Shirt should never be predicted";
  EXPECT_GT(fashion.at("support")[6], 0);

  const json absent = load_golden("absent_class");
  ASSERT_FALSE(absent.empty());
  EXPECT_EQ(absent.at("summary_row"), "micro avg");
  EXPECT_NE(load_golden("all_wrong").at("sklearn_report"), load_golden("all_wrong").at("report"));
}

// ---- classification report: hand-checked behaviour ----

TEST(ClassificationReport, SmallCaseByHand) {
  const ClassificationReport r = small_report();
  // cat: tp 5, predicted 5 + 12, support 6.
  EXPECT_DOUBLE_EQ(r.classes[0].precision, 5.0 / 17.0);
  EXPECT_DOUBLE_EQ(r.classes[0].recall, 5.0 / 6.0);
  EXPECT_DOUBLE_EQ(r.classes[0].f1, 2.0 * 5.0 / (17.0 + 6.0));
  // dog: perfect.
  EXPECT_EQ(r.classes[1].precision, 1.0);
  EXPECT_EQ(r.classes[1].recall, 1.0);
  // café: tp 3, predicted 1 + 3, support 15.
  EXPECT_DOUBLE_EQ(r.classes[2].precision, 3.0 / 4.0);
  EXPECT_DOUBLE_EQ(r.classes[2].recall, 3.0 / 15.0);
  EXPECT_EQ(r.total, 28);
  EXPECT_DOUBLE_EQ(r.accuracy, 15.0 / 28.0);
  EXPECT_DOUBLE_EQ(r.macro_avg.recall, (5.0 / 6.0 + 1.0 + 0.2) / 3.0);
  // Weighted recall is always the accuracy.
  EXPECT_DOUBLE_EQ(r.weighted_avg.recall, r.accuracy);
}

TEST(ClassificationReport, UndefinedRatiosAreZero) {
  // Class 1 is never predicted (precision undefined), class 2 never occurs (recall undefined).
  const ClassificationReport r = classification_report({0, 1, 0}, {0, 2, 0}, {"a", "b", "c"});
  EXPECT_EQ(r.classes[1].precision, 0.0);
  EXPECT_EQ(r.classes[1].recall, 0.0);
  EXPECT_EQ(r.classes[1].f1, 0.0);
  EXPECT_EQ(r.classes[2].precision, 0.0);
  EXPECT_EQ(r.classes[2].recall, 0.0);
  EXPECT_EQ(r.classes[2].support, 0);
  // The macro average still divides by all three classes.
  EXPECT_DOUBLE_EQ(r.macro_avg.precision, 1.0 / 3.0);
}

TEST(ClassificationReport, RejectsBadInput) {
  const std::vector<std::string> names = {"a", "b", "c"};
  expect_contains(error_of([&] { classification_report({}, {}, names); }),
                  {"classification_report", "empty"});
  expect_contains(error_of([&] {
                    classification_report({0, 1}, {0}, names);
                  }),
                  {"classification_report", "y_true has 2", "y_pred has 1"});
  expect_contains(error_of([&] { classification_report({0}, {0}, {}); }), {"no class names"});
  expect_contains(error_of([&] {
                    classification_report({0, -1, 2}, {0, 1, 2}, names);
                  }),
                  {"y_true[1] = -1", "[0, 3)"});
  expect_contains(error_of([&] {
                    classification_report({0, 1, 2}, {0, 1, 7}, names);
                  }),
                  {"y_pred[2] = 7", "[0, 3)", "3 class names"});
}

TEST(FormatReport, RejectsBadDigitsAndInconsistentReports) {
  const ClassificationReport r = small_report();
  expect_contains(error_of([&] { format_report(r, -1); }), {"format_report", "digits = -1"});
  expect_contains(error_of([&] { format_report(r, 51); }), {"digits = 51"});
  EXPECT_NO_THROW(format_report(r, 50));

  ClassificationReport broken = r;
  broken.confusion.pop_back();
  expect_contains(error_of([&] { format_report(broken, 4); }),
                  {"format_report", "2 rows for 3 classes"});
  broken = r;
  broken.confusion[1].push_back(0);
  expect_contains(error_of([&] { format_confusion_matrix(broken); }),
                  {"format_confusion_matrix", "row 1 has 4 columns"});
  expect_contains(error_of([] { format_report(ClassificationReport{}, 4); }), {"no classes"});
}

// ---- confusion matrix text ----

TEST(FormatConfusionMatrix, LayoutWithUtf8NamesAndWideCounts) {
  // "café" is 4 code points (5 bytes): the label column pads by code points. Counts up to 12
  // make the cells two characters wide.
  const std::string want =
      "true \\ pred  0  1  2\n"
      "0 cat        5  0  1\n"
      "1 dog        0  7  0\n"
      "2 café      12  0  3\n";
  EXPECT_EQ(format_confusion_matrix(small_report()), want);
}

TEST(FormatConfusionMatrix, ColumnIndicesSetTheMinimumWidth) {
  // 11 classes: index "10" is wider than every count.
  std::vector<std::string> names;
  for (int i = 0; i < 11; ++i) names.push_back("class " + std::to_string(i));
  const std::string text = format_confusion_matrix(classification_report({10}, {3}, names));
  EXPECT_EQ(text.substr(0, text.find('\n')), "true \\ pred  0  1  2  3  4  5  6  7  8  9 10");
  EXPECT_NE(text.find("\n10 class 10  0  0  0  1  0  0  0  0  0  0  0\n"), std::string::npos)
      << text;
}

// ---- ranking metrics ----

TEST(RankingMetrics, ClosedForms) {
  const std::vector<int64_t> ranks = {0, 1, 2, 5, 10};
  // k = 3: ranks 0, 1, 2 hit.
  EXPECT_DOUBLE_EQ(hit_rate_at_k(ranks, 3), 3.0 / 5.0);
  // (1/log2(2) + 1/log2(3) + 1/log2(4)) / 5 with 1/log2(3) = 0.63092975357145743710.
  EXPECT_NEAR(ndcg_at_k(ranks, 3), (1.0 + 0.63092975357145743710 + 0.5) / 5.0, kTol);
  // (1 + 1/2 + 1/3 + 1/6 + 1/11) / 5 = (2 + 1/11) / 5 = 23/55.
  EXPECT_NEAR(mean_reciprocal_rank(ranks), 23.0 / 55.0, kTol);

  const RankingMetrics m = ranking_metrics(ranks, 3);
  EXPECT_DOUBLE_EQ(m.hr, 0.6);
  EXPECT_NEAR(m.ndcg, 0.42618595071429148742, kTol);
  EXPECT_NEAR(m.mrr, 23.0 / 55.0, kTol);
  EXPECT_EQ(m.k, 3);
  EXPECT_EQ(m.queries, 5);
}

TEST(RankingMetrics, CutoffEdges) {
  const std::vector<int64_t> ranks = {0, 3, 0, 7};
  // k = 1: only rank 0 counts and its gain is 1, so NDCG@1 == HR@1.
  EXPECT_DOUBLE_EQ(hit_rate_at_k(ranks, 1), 0.5);
  EXPECT_DOUBLE_EQ(ndcg_at_k(ranks, 1), 0.5);
  // rank == k is a miss, rank == k - 1 a hit.
  EXPECT_DOUBLE_EQ(hit_rate_at_k({3}, 3), 0.0);
  EXPECT_DOUBLE_EQ(hit_rate_at_k({2}, 3), 1.0);
  EXPECT_DOUBLE_EQ(ndcg_at_k({2}, 3), 0.5);  // 1 / log2(4)
  // A cutoff beyond every rank: everything hits; MRR ignores k.
  EXPECT_DOUBLE_EQ(hit_rate_at_k(ranks, 1000), 1.0);
  EXPECT_NEAR(mean_reciprocal_rank(ranks), (1.0 + 0.25 + 1.0 + 0.125) / 4.0, kTol);
}

TEST(RankingMetrics, RejectsBadInput) {
  expect_contains(error_of([] { hit_rate_at_k({}, 10); }), {"hit_rate_at_k", "empty"});
  expect_contains(error_of([] { ndcg_at_k({0, -3}, 10); }), {"ndcg_at_k", "ranks[1] = -3"});
  expect_contains(error_of([] { mean_reciprocal_rank({}); }), {"mean_reciprocal_rank"});
  expect_contains(error_of([] { hit_rate_at_k({0}, 0); }), {"k = 0"});
  expect_contains(error_of([] { ranking_metrics({1}, -2); }), {"ranking_metrics", "k = -2"});
  expect_contains(error_of([] {
                    ranking_metrics({1, 2, -1}, 5);
                  }),
                  {"ranking_metrics", "ranks[2] = -1"});
}

TEST(RankOfTarget, CountsStrictlyHigherScores) {
  const std::vector<float> scores = {0.1f, 0.9f, 0.5f, 0.5f, -1.0f};
  EXPECT_EQ(rank_of_target(scores.data(), 5, 1), 0);
  // The tie with index 3 does not count against index 2 (nor the other way round).
  EXPECT_EQ(rank_of_target(scores.data(), 5, 2), 1);
  EXPECT_EQ(rank_of_target(scores.data(), 5, 3), 1);
  EXPECT_EQ(rank_of_target(scores.data(), 5, 0), 3);
  EXPECT_EQ(rank_of_target(scores.data(), 5, 4), 4);
  // Constant scores rank every target first (the documented optimistic tie rule).
  const std::vector<float> flat(7, 2.0f);
  EXPECT_EQ(rank_of_target(flat.data(), 7, 6), 0);
  // Infinities are ordinary scores.
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> extremes = {-inf, inf, 0.0f};
  EXPECT_EQ(rank_of_target(extremes.data(), 3, 0), 2);
  EXPECT_EQ(rank_of_target(extremes.data(), 3, 1), 0);
}

TEST(RankOfTarget, RejectsBadInput) {
  const std::vector<float> scores = {1.0f, 2.0f, 3.0f};
  expect_contains(error_of([&] { rank_of_target(scores.data(), 0, 0); }),
                  {"rank_of_target", "n = 0"});
  expect_contains(error_of([&] { rank_of_target(scores.data(), 3, 3); }), {"target = 3", "[0, 3)"});
  expect_contains(error_of([&] { rank_of_target(scores.data(), 3, -1); }), {"target = -1"});
  expect_contains(error_of([] { rank_of_target(nullptr, 3, 0); }), {"null"});
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> with_nan = {1.0f, nan, 3.0f};
  expect_contains(error_of([&] { rank_of_target(with_nan.data(), 3, 0); }), {"scores[1] is NaN"});
  expect_contains(error_of([&] { rank_of_target(with_nan.data(), 3, 1); }), {"scores[1] is NaN"});
}

TEST(TopK, HighestFirstTiesByIndex) {
  const float scores[] = {0.1f, 0.7f, 0.05f, 0.7f, 0.15f};
  EXPECT_EQ(top_k(scores, 5, 3), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(top_k(scores, 5, 9), (std::vector<int64_t>{1, 3, 4, 0, 2}));  // k beyond n: all of them
  EXPECT_TRUE(top_k(scores, 5, 0).empty());
  EXPECT_THROW(top_k(scores, 5, -1), Error);
}

}  // namespace
}  // namespace heed::metrics
