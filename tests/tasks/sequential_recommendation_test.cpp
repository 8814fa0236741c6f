// Sequential recommendation: the ranking protocols (full ranking without the history, sampled
// negatives) against hand-worked ranks and the closed forms of HR / NDCG, the count baselines,
// the training windows, SASRec's causality and padding, the BCE loss against its formula, and
// the task end to end (train, eval table and JSON through the CLI, resume, bad input).
#include "heed/tasks/sequential_recommendation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <set>

#include "cli_util.h"
#include "heed/core/rng.h"
#include "heed/io/safetensors.h"
#include "heed/metrics/ranking.h"
#include "heed/ops/ops.h"
#include "test_files.h"
#include "test_util.h"

namespace heed::tasks {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

std::vector<int64_t> ints(const Tensor& t) { return std::vector<int64_t>(t.i64(), t.i64() + t.numel()); }

TEST(Ranking, FullRankLeavesTheHistoryOutAndSampledRankUsesTheNegatives) {
  // Items 1..5; column 0 is padding (its high score never counts).
  const std::vector<float> s = {9.f, 0.1f, 0.5f, 0.3f, 0.9f, 0.2f};
  const std::vector<int64_t> none, history = {4, 0, 4};
  EXPECT_EQ(full_rank(s.data(), 5, 3, none.data(), 0), 2);  // items 4 and 2 score above 0.3
  EXPECT_EQ(full_rank(s.data(), 5, 3, history.data(), 3), 1);  // 4 is in the history: only 2
  const std::vector<int64_t> negatives = {1, 5, 0};  // 0 pads a short list
  EXPECT_EQ(sampled_rank(s.data(), 3, negatives.data(), 3), 0);
  const std::vector<int64_t> harder = {2, 4};
  EXPECT_EQ(sampled_rank(s.data(), 3, harder.data(), 2), 2);
}

TEST(Ranking, EvaluatorAveragesHitRateAndNdcgOverQueries) {
  // Two queries with 3 items; query 0's target ranks first, query 1's third (two items above).
  nn::Batch batch;
  batch.tensors = {{"target", Tensor::from_indices({2}, {1, 3})},
                   {"history", Tensor::from_indices({2, 1}, {0, 0})},
                   {"negatives", Tensor::from_indices({2, 2}, {2, 3, 1, 2})}};
  nn::ModelOutput out;
  out.logits = Var(Tensor::from_vector({2, 4}, {0.f, 3.f, 2.f, 1.f, 0.f, 3.f, 2.f, 1.f}));
  RankingEvaluator e("full_ndcg@5");
  e.add(out, batch);
  const train::EvalResult r = e.finish();
  EXPECT_DOUBLE_EQ(r.json.at("full").at("hr@1"), 0.5);
  EXPECT_DOUBLE_EQ(r.json.at("full").at("hr@5"), 1.0);
  EXPECT_NEAR(r.json.at("full").at("ndcg@5").get<double>(), (1.0 + 1.0 / std::log2(4.0)) / 2, 1e-12);
  EXPECT_NEAR(r.metric, (1.0 + 1.0 / std::log2(4.0)) / 2, 1e-12);
  EXPECT_NEAR(r.json.at("full").at("mrr").get<double>(), (1.0 + 1.0 / 3) / 2, 1e-12);
  // Sampled: query 0 against items 2, 3 -> first; query 1 against 1, 2 -> third.
  EXPECT_DOUBLE_EQ(r.json.at("sampled").at("hr@1"), 0.5);
  // Loss: the target's cross-entropy over items 1..3 (scores 3, 2, 1).
  const double z = std::exp(3.0) + std::exp(2.0) + std::exp(1.0);
  EXPECT_NEAR(r.loss, (-(3.0 - std::log(z)) - (1.0 - std::log(z))) / 2, 1e-5);
  EXPECT_THROW(RankingEvaluator("ndcg@10"), Error);
  EXPECT_THROW(RankingEvaluator("full_ndcg@3"), Error);
}

TEST(Ranking, QueriesTruncateTheInputKeepTheHistoryAndDrawUnseenNegatives) {
  const std::vector<std::vector<int32_t>> inputs = {{1, 2, 3, 4, 5}, {6, 7}};
  const std::vector<std::vector<int32_t>> seen = {{1, 2, 3, 4, 5, 6}, {6, 7, 8}};
  const RankingQueries q(inputs, {6, 8}, seen, 20, 3, 10, 42, 1);
  const nn::Batch b = q.batch({0, 1}, {});
  EXPECT_EQ(ints(b.at("items")), (std::vector<int64_t>{3, 4, 5, 6, 7, 0}));  // the last 3, right-padded
  EXPECT_EQ(ints(b.at("lengths")), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(ints(b.at("history")), (std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 0, 0, 0}));
  for (int64_t u = 0; u < 2; ++u) {
    std::vector<int32_t> n = q.negatives(u);
    ASSERT_EQ(n.size(), 10u);
    for (int32_t j : n) {
      EXPECT_GE(j, 1);
      EXPECT_LE(j, 20);
      EXPECT_FALSE(std::binary_search(seen[size_t(u)].begin(), seen[size_t(u)].end(), j)) << j;
    }
    std::sort(n.begin(), n.end());
    EXPECT_EQ(std::unique(n.begin(), n.end()), n.end()) << "repeated negative";
  }
  EXPECT_EQ(RankingQueries(inputs, {6, 8}, seen, 20, 3, 10, 42, 1).negatives(0), q.negatives(0));  // seeded
  EXPECT_NE(RankingQueries(inputs, {6, 8}, seen, 20, 3, 10, 42, 2).negatives(0), q.negatives(0));  // per split
  // Fewer unseen items than asked: all of them.
  const RankingQueries few(inputs, {6, 8}, seen, 8, 3, 10, 42, 1);
  EXPECT_EQ(few.negatives(0), (std::vector<int32_t>{7, 8}));
  EXPECT_EQ(few.negatives(1), (std::vector<int32_t>{1, 2, 3, 4, 5}));
}

TEST(Baselines, PopularityAndTransitionsCountedOnTraining) {
  // Popularity: 1 x2, 2 x3, 3 x2, 4 x1. After 2: 3 twice, 4 once.
  const std::vector<std::vector<int32_t>> train = {{1, 2, 3}, {1, 2, 4}, {2, 3}};
  auto counts = std::make_shared<const InteractionCounts>(count_interactions(train, 4));
  EXPECT_EQ(counts->popularity, (std::vector<double>{0, 2, 3, 2, 1}));
  ASSERT_EQ(counts->next[2].size(), 2u);
  EXPECT_EQ(counts->next[2][0], (std::pair<int32_t, double>{3, 2.0}));
  nn::Batch batch;
  batch.tensors = {{"items", Tensor::from_indices({1, 2}, {1, 2})}, {"lengths", Tensor::from_indices({1}, {2})}};
  CountBaseline popular("popular", counts, 0), markov("markov", counts, 0);
  const Tensor p = popular.forward(batch).logits.value(), m = markov.forward(batch).logits.value();
  EXPECT_EQ(metrics::top_k(p.f32() + 1, 4, 1)[0] + 1, 2);  // the most popular
  std::vector<int64_t> order = metrics::top_k(m.f32() + 1, 4, 4);
  for (int64_t& i : order) ++i;
  EXPECT_EQ(order[0], 3);  // followed 2 twice
  EXPECT_EQ(order[1], 4);  // once
  EXPECT_EQ(order[2], 2);  // then by popularity: 2 (3) before 1 (2)
}

TEST(SequenceWindowsTest, LastOrEveryWindowOfTheTrainingPart) {
  const std::vector<std::vector<int32_t>> train = {{1, 2, 3, 4, 5, 6, 7}, {8}};
  const SequenceWindows last(train, 9, 3, false, false), all(train, 9, 3, true, true);
  EXPECT_EQ(last.size(), 1);  // user 1 has no pair
  EXPECT_EQ(all.size(), 2);
  EXPECT_EQ(all.pairs(), 6);
  const nn::Batch b = all.batch({0, 1}, {3, 7, true});
  EXPECT_EQ(ints(b.at("items")), (std::vector<int64_t>{4, 5, 6, 1, 2, 3}));  // the newest window first
  EXPECT_EQ(ints(b.at("next_items")), (std::vector<int64_t>{5, 6, 7, 2, 3, 4}));
  for (int64_t j : ints(b.at("negatives"))) {
    EXPECT_GE(j, 8);  // items 8 and 9: outside user 0's training items
    EXPECT_LE(j, 9);
  }
  EXPECT_EQ(ints(all.batch({0, 1}, {3, 7, true}).at("negatives")), ints(b.at("negatives")));  // pure
  EXPECT_FALSE(last.batch({0}, {}).has("negatives"));
}

nn::SasRecConfig tiny_sasrec(const std::string& loss = "ce") {
  nn::SasRecConfig c;
  c.items = 12;
  c.max_len = 6;
  c.dim = 8;
  c.heads = 2;
  c.depth = 2;
  c.dropout = 0.f;
  c.loss = loss;
  return c;
}

Tensor hidden(nn::SasRec& m, const std::vector<int64_t>& items, int64_t length) {
  NoGradGuard no_grad;
  return m.encode(Tensor::from_indices({1, int64_t(items.size())}, items), Tensor::from_indices({1}, {length})).value();
}

TEST(SasRecModel, PositionsCountFromTheStartOrTheEnd) {
  EXPECT_EQ(ints(nn::positions_from_end(Tensor::from_indices({2}, {3, 1}), 4)),
            (std::vector<int64_t>{2, 1, 0, 0, 0, 0, 0, 0}));
  // "end": a sequence's newest item has position 0 whatever its length, so the same last items
  // in a longer history get the same position embedding.
  nn::SasRecConfig c = tiny_sasrec();
  c.depth = 1;
  for (const char* positions : {"start", "end"}) {
    c.positions = positions;
    nn::SasRec m(c, 4);
    m.eval();
    // The first item alone: its hidden state is a function of its embedding and its position.
    const Tensor one = hidden(m, {7}, 1);
    bool same = true;
    for (int64_t k = 0; k < 8; ++k) same &= one.f32()[k] == hidden(m, {7, 5}, 2).f32()[k];
    EXPECT_EQ(same, std::string(positions) == "start") << positions << ": position of the first of two items";
  }
}

TEST(SasRecModel, CausalAndRightPaddingChangesNothing) {
  for (const char* positions : {"start", "end"}) {
    nn::SasRecConfig c = tiny_sasrec();
    c.positions = positions;
    nn::SasRec m(c, 3);
    m.eval();
    const Tensor a = hidden(m, {1, 2, 3, 4, 5}, 5), b = hidden(m, {1, 2, 3, 9, 11}, 5);
    const Tensor padded = hidden(m, {1, 2, 3, 0, 0, 0}, 3), short_one = hidden(m, {1, 2, 3}, 3);
    const int64_t d = 8;
    for (int64_t i = 0; i < 3 * d; ++i) {
      EXPECT_EQ(a.f32()[i], b.f32()[i]) << "a later item changed position " << i / d;
      EXPECT_NEAR(padded.f32()[i], short_one.f32()[i], 1e-6f);
    }
    bool later_differs = false;
    for (int64_t i = 3 * d; i < 5 * d; ++i) later_differs |= a.f32()[i] != b.f32()[i];
    EXPECT_TRUE(later_differs);
    // Scores at the last position are h . item_embed (the shared embedding).
    nn::Batch batch;
    batch.tensors = {{"items", Tensor::from_indices({1, 6}, {1, 2, 3, 0, 0, 0})},
                     {"lengths", Tensor::from_indices({1}, {3})}};
    Tensor scores;
    {
      NoGradGuard no_grad;
      scores = m.forward(batch).logits.value();
    }
    ASSERT_EQ(scores.size(1), 13);
    for (int64_t j = 0; j <= 12; ++j) {
      double dot = 0;
      for (int64_t k = 0; k < d; ++k) dot += double(short_one.f32()[2 * d + k]) * m.item_embed.value().f32()[j * d + k];
      EXPECT_NEAR(scores.f32()[j], dot, 1e-5) << j;
    }
  }
}

TEST(SasRecModel, BceLossIsThePapersFormula) {
  nn::Batch batch;
  batch.tensors = {{"items", Tensor::from_indices({1, 3}, {1, 2, 0})},
                   {"lengths", Tensor::from_indices({1}, {2})},
                   {"next_items", Tensor::from_indices({1, 3}, {2, 3, 0})},
                   {"negatives", Tensor::from_indices({1, 3}, {7, 9, 0})}};
  nn::SasRec m(tiny_sasrec("bce"), 5);
  const nn::ModelOutput out = m.forward(batch);
  ASSERT_EQ(out.logits.value().size(0), 2);
  const float* s = out.logits.value().f32();
  auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  // mean over positions of -log sigmoid(pos) - log(1 - sigmoid(neg))
  const double expected = (softplus(-s[0]) + softplus(s[1]) + softplus(-s[2]) + softplus(s[3])) / 2;
  const SequentialRecommendationTask task("bce", "full_ndcg@10");
  EXPECT_NEAR(task.loss(out, batch).value().item(), expected, 1e-5);
  EXPECT_EQ(task.target_weight(batch), 2.0);
  // The positive's score is h . item_embed[next]: compare with the evaluation scores.
  nn::Batch eval = batch;
  eval.tensors.erase("next_items");
  eval.tensors["items"] = Tensor::from_indices({1, 1}, {1});
  eval.tensors["lengths"] = Tensor::from_indices({1}, {1});
  m.eval();
  m.train(false);
  NoGradGuard no_grad;
  EXPECT_NEAR(m.forward(eval).logits.value().f32()[2], s[0], 1e-5);
  EXPECT_NEAR(m.forward(eval).logits.value().f32()[7], s[1], 1e-5);
}

TEST(SasRecModel, CeLossWithLabelSmoothingIsPyTorchsFormula) {
  nn::Batch batch;
  batch.tensors = {{"items", Tensor::from_indices({1, 3}, {1, 2, 0})},
                   {"lengths", Tensor::from_indices({1}, {2})},
                   {"next_items", Tensor::from_indices({1, 3}, {2, 3, 0})}};
  nn::SasRec m(tiny_sasrec("ce"), 5);
  const nn::ModelOutput out = m.forward(batch);
  const Tensor h = out.logits.value(), e = out.output_weight.value();
  ASSERT_EQ(h.size(0), 2);
  const int64_t classes = e.size(0), dim = e.size(1);
  // torch.nn.functional.cross_entropy(h @ E^T, targets, label_smoothing=eps): per row
  // (1 - eps) * -log p[target] + eps * mean over every class of -log p[j], then the mean of rows.
  for (float eps : {0.f, 0.2f}) {
    double expected = 0;
    for (int64_t r = 0; r < 2; ++r) {
      std::vector<double> z(static_cast<size_t>(classes));
      for (int64_t j = 0; j < classes; ++j)
        for (int64_t k = 0; k < dim; ++k) z[size_t(j)] += double(h.f32()[r * dim + k]) * double(e.f32()[j * dim + k]);
      double zmax = z[0], sum = 0, mean_nll = 0;
      for (double v : z) zmax = std::max(zmax, v);
      for (double v : z) sum += std::exp(v - zmax);
      const double log_z = zmax + std::log(sum);
      for (double v : z) mean_nll += (log_z - v) / double(classes);
      const int64_t target = r == 0 ? 2 : 3;
      expected += ((1 - eps) * (log_z - z[size_t(target)]) + eps * mean_nll) / 2;
    }
    const SequentialRecommendationTask task("ce", "full_ndcg@10", eps);
    EXPECT_NEAR(task.loss(out, batch).value().item(), expected, 1e-5) << "label smoothing " << eps;
  }
}

// A log where every user walks items in a cycle from a random start: the next item is the
// current one plus 1, which SASRec learns and popularity cannot.
void write_log(const fs::path& path, int users, int items, uint64_t seed) {
  Rng rng(seed);
  std::ofstream out(path);
  out << "userId,movieId,rating,timestamp\n";
  for (int u = 1; u <= users; ++u) {
    const int start = int(rng.below(uint64_t(items))), length = 6 + int(rng.below(10));
    for (int p = 0; p < length; ++p) out << u << "," << 100 + (start + p) % items << ",4," << 1000 + p * 10 << "\n";
  }
}

class SequenceTask : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("heed-seqrec-" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    write_log(dir_ / "log.csv", 120, 30, 1);
  }
  void TearDown() override { fs::remove_all(dir_); }
  json config() const {
    return {{"task", "sequential-recommendation"},
            {"model", {{"dim", 16}, {"depth", 1}, {"heads", 2}, {"max_len", 8}, {"dropout", 0.0}}},
            {"train", {{"epochs", 6}, {"batch_size", 16}, {"lr", 0.01}, {"seed", 0}, {"threads", 1},
                       {"replicas", 1}, {"weight_decay", 0.0}}},
            {"data", {{"train", (dir_ / "log.csv").string()}, {"negatives", 10}}}};
  }
  std::string out(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(SequenceTask, LearnsTheCycleBeatsTheBaselinesAndEvaluatesThroughTheCli) {
  for (const char* loss : {"ce", "bce"}) {
    json j = config();
    j["model"]["loss"] = loss;
    if (std::string(loss) == "bce") j["train"]["epochs"] = 15;
    const train::TrainResult r = train_sequential_recommendation(parse_sequential_recommendation_config(j),
                                                                 out(loss), false);
    EXPECT_GT(r.best_metric, 0.8) << loss << ": full NDCG@10 on validation (a deterministic next item)";
    const test::CliResult e = test::run_cli({"eval", "--checkpoint", r.best_path, "--json"}, dir_);
    ASSERT_EQ(e.exit_code, 0) << e.err;
    const json got = json::parse(e.out);
    ASSERT_EQ(got.at("results").size(), 6u);  // 3 models x 2 splits
    std::map<std::string, double> test_ndcg;
    for (const json& row : got.at("results"))
      if (row.at("split") == "test") test_ndcg[row.at("model")] = row.at("full").at("ndcg@10");
    EXPECT_GT(test_ndcg.at("sasrec"), 0.8) << loss;
    EXPECT_LT(test_ndcg.at("popular"), 0.5);  // 30 items in equal measure
    EXPECT_GT(test_ndcg.at("markov"), 0.9);   // the cycle is a first-order chain
  }
  const test::CliResult table = test::run_cli({"eval", "--checkpoint", out("ce") + "/best.safetensors"}, dir_);
  EXPECT_CONTAINS(table.out, "markov   test       sampled");
  EXPECT_CONTAINS(table.out, "NDCG@10");
}

TEST_F(SequenceTask, RecommendSpeaksRawIdsAndEvalTakesAnotherLog) {
  json j = config();
  test::write_text(dir_ / "titles.csv", "movieId,title,year\n105,\"Five, the\",1999\n106,Six,NA\n");
  j["data"]["titles"] = out("titles.csv");
  const train::TrainResult r = train_sequential_recommendation(parse_sequential_recommendation_config(j), out("m"),
                                                               false);
  // The cycle: after 103, 104 the next is 105, then 106; history items are never recommended;
  // the unknown id 999 is reported and skipped.
  const test::CliResult p = test::run_cli({"recommend", "--checkpoint", r.best_path, "--history", "103, 104,999",
                                           "--top-k", "40", "--json"}, dir_);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  EXPECT_CONTAINS(p.err, "999");
  const json got = json::parse(p.out);
  ASSERT_EQ(got.at("recommendations").size(), 28u);  // 30 items less the 2 known ones of the history
  EXPECT_EQ(got.at("recommendations")[0].at("item"), 105);
  EXPECT_EQ(got.at("recommendations")[0].at("title"), "Five, the (1999)");
  std::set<int64_t> listed;
  for (const json& rec : got.at("recommendations")) {
    listed.insert(rec.at("item").get<int64_t>());
    if (rec.at("item") == 106) {
      EXPECT_EQ(rec.at("title"), "Six");  // no year: NA
    }
    if (rec.at("item") == 107) {
      EXPECT_EQ(rec.at("title"), "");  // no title known
    }
  }
  EXPECT_EQ(listed.count(103) + listed.count(104), 0u);
  EXPECT_EQ(listed.size(), 28u);
  const test::CliResult all_seen = test::run_cli({"recommend", "--checkpoint", r.best_path, "--history", "104,105",
                                                  "--json"}, dir_);
  const json seen_recs = json::parse(all_seen.out);  // kept: a range-for does not extend a member of a temporary
  ASSERT_FALSE(seen_recs.at("recommendations").empty());
  for (const json& rec : seen_recs.at("recommendations")) {
    EXPECT_NE(rec.at("item"), 104);
    EXPECT_NE(rec.at("item"), 105);
  }
  // --user: the user's whole history from the log.
  const test::CliResult u = test::run_cli({"recommend", "--checkpoint", r.best_path, "--user", "3"}, dir_);
  EXPECT_EQ(u.exit_code, 0) << u.err;
  for (const std::vector<std::string>& bad : {std::vector<std::string>{"--history", "7x"},
                                              {"--history", "999"}, {"--history", " , "}, {"--user", "abc"}}) {
    std::vector<std::string> args = {"recommend", "--checkpoint", r.best_path};
    args.insert(args.end(), bad.begin(), bad.end());
    const test::CliResult e = test::run_cli(args, dir_);
    EXPECT_NE(e.exit_code, 0) << bad[1];
    EXPECT_CONTAINS(e.err, "recommend");
  }
  // eval --data: another log in the checkpoint's ids; items it does not know are left out.
  test::write_text(dir_ / "other.csv", "userId,movieId,timestamp\n1,101,1\n1,102,2\n1,103,3\n1,104,4\n"
                                       "2,500,1\n2,110,2\n2,111,3\n2,112,4\n");
  const test::CliResult e = test::run_cli({"eval", "--checkpoint", r.best_path, "--data", out("other.csv"),
                                           "--json"}, dir_);
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_CONTAINS(e.err, "1 interactions with items the checkpoint does not know");
  EXPECT_EQ(json::parse(e.out).at("results")[0].at("users"), 2);
}

TEST_F(SequenceTask, ResumeIsBitIdentical) {
  train_sequential_recommendation(parse_sequential_recommendation_config(config()), out("a"), false);
  json jb = config();
  jb["train"]["time_limit_minutes"] = 1e-9;
  const auto b = parse_sequential_recommendation_config(jb);
  EXPECT_EQ(train_sequential_recommendation(b, out("b"), false).epochs_done, 1);
  for (int e = 2; e <= 6; ++e) EXPECT_EQ(train_sequential_recommendation(b, out("b"), true).epochs_done, e);
  const io::SafetensorsFile fa = io::read_safetensors(out("a") + "/last.safetensors");
  const io::SafetensorsFile fb = io::read_safetensors(out("b") + "/last.safetensors");
  ASSERT_EQ(fa.tensors.size(), fb.tensors.size());
  for (size_t i = 0; i < fa.tensors.size(); ++i)
    if (fa.tensors[i].second.dtype() == DType::F32) {
      EXPECT_EQ(fa.tensors[i].second.to_vector(), fb.tensors[i].second.to_vector()) << fa.tensors[i].first;
    }
  EXPECT_EQ(fa.metadata.at("items"), fb.metadata.at("items"));
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

TEST_F(SequenceTask, BadInputNamesFileLineAndColumn) {
  test::write_text(dir_ / "bad-time.csv", "userId,movieId,rating,timestamp\n1,5,4,100\n1,6,4,yesterday\n");
  json j = config();
  j["data"]["train"] = out("bad-time.csv");
  const std::string time = error_of([&] {
    train_sequential_recommendation(parse_sequential_recommendation_config(j), out("r1"), false);
  });
  EXPECT_CONTAINS(time, "bad-time.csv:3");
  EXPECT_CONTAINS(time, "timestamp");
  test::write_text(dir_ / "no-item.csv", "userId,item,timestamp\n1,5,100\n");
  j["data"]["train"] = out("no-item.csv");
  EXPECT_CONTAINS(error_of([&] {
                    train_sequential_recommendation(parse_sequential_recommendation_config(j), out("r2"), false);
                  }),
                  "movieId");
  j = config();
  j["data"]["select_metric"] = "ndcg@10";
  EXPECT_CONTAINS(error_of([&] { parse_sequential_recommendation_config(j); }), "data.select_metric");
  j = config();
  j["data"]["min_user_interactions"] = 2;
  EXPECT_CONTAINS(error_of([&] { parse_sequential_recommendation_config(j); }), "data.min_user_interactions");
  j = config();
  j["model"]["loss"] = "hinge";
  EXPECT_CONTAINS(error_of([&] { parse_sequential_recommendation_config(j); }), "model.loss");
  j = config();  // smoothing a two-class BCE against one sampled negative means nothing: refused
  j["model"]["loss"] = "bce";
  j["train"]["label_smoothing"] = 0.1;
  EXPECT_CONTAINS(error_of([&] { parse_sequential_recommendation_config(j); }), "train.label_smoothing");
}

}  // namespace
}  // namespace heed::tasks
