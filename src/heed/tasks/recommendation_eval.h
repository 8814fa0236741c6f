// Leave-one-out evaluation of next-item recommenders, both protocols always reported:
//   sampled: the target against `negatives` items drawn uniformly, without repeats, from the
//            items the user never interacted with (seeded per user and split: the paper's);
//   full:    the target against every item not in the user's input history.
// HR@K and NDCG@K for K = 1, 5, 10, 20, plus MRR. Scores come as rows over all item ids
// [B, items + 1] (column 0 is padding and never a candidate), from SASRec or from the two
// baselines below, which run through the same dataset, batches and evaluator: most-popular and
// an item-to-item (first-order Markov) transition model, both counted on the training parts.
// Ranks are 0-based and count the candidates with a strictly higher score; the baselines' count
// scores tie often, so they add a fixed per-item offset below 1 (a seeded random tie-break).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "heed/nn/model.h"
#include "heed/train/task.h"

namespace heed::tasks {

// One split of leave-one-out queries: batches "items" [B, T] (the last max_len of each input,
// right-padded), "lengths" [B], "target" [B], "history" [B, H] (the whole input, 0-padded: what
// full ranking excludes) and "negatives" [B, N] (0-padded when a user has fewer unseen items).
class RankingQueries : public train::Dataset {
 public:
  // inputs[u] and targets[u] per user; `seen[u]` every item the user interacted with (sorted,
  // unique): negatives are drawn outside it, from 1..items, with `seed` and `salt` (the split).
  RankingQueries(std::vector<std::vector<int32_t>> inputs, std::vector<int32_t> targets,
                 const std::vector<std::vector<int32_t>>& seen, int64_t items, int64_t max_len, int64_t negatives,
                 uint64_t seed, uint64_t salt);
  int64_t size() const override { return int64_t(inputs_.size()); }
  nn::Batch batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const override;
  const std::vector<int32_t>& negatives(int64_t user) const { return negatives_[size_t(user)]; }

 private:
  std::vector<std::vector<int32_t>> inputs_;
  std::vector<int32_t> targets_;
  std::vector<std::vector<int32_t>> negatives_;
  int64_t max_len_;
};

// The 0-based full-ranking rank of `target` in `scores` [items + 1] among the items not in
// `history` (and not 0), and its rank among itself and `negatives`.
int64_t full_rank(const float* scores, int64_t items, int64_t target, const int64_t* history, int64_t history_size);
int64_t sampled_rank(const float* scores, int64_t target, const int64_t* negatives, int64_t count);

inline const std::vector<int64_t> kRankingCutoffs = {1, 5, 10, 20};

// Accumulates the ranks of a split; `metric` names the selection metric ("full_ndcg@10",
// "sampled_hr@10", ...).
class RankingEvaluator : public train::Evaluator {
 public:
  explicit RankingEvaluator(std::string metric);
  void add(const nn::ModelOutput& output, const nn::Batch& batch) override;
  train::EvalResult finish() override;

 private:
  std::string metric_;
  std::vector<int64_t> full_, sampled_;
  double loss_sum_ = 0;
};

// Checks a selection metric's name: full_ or sampled_, hr or ndcg, @ one of the cutoffs.
void check_ranking_metric(const std::string& name);

// Counts over training sequences for the baselines.
struct InteractionCounts {
  std::vector<double> popularity;  // [items + 1]: training interactions per item
  std::vector<std::vector<std::pair<int32_t, double>>> next;  // per item: (next item, count), sorted by item
  int64_t items = 0;
};
InteractionCounts count_interactions(const std::vector<std::vector<int32_t>>& train, int64_t items);

// Scores every item by its popularity ("popular") or by how often it followed the input's last
// item, then popularity ("markov"). A Model without parameters, so the trainer's evaluation
// runs it like SASRec.
class CountBaseline : public nn::Model {
 public:
  CountBaseline(std::string kind, std::shared_ptr<const InteractionCounts> counts, uint64_t seed);
  nn::ModelOutput forward(const nn::Batch& batch, const nn::ForwardOptions& options = {}) override;
  std::unique_ptr<nn::Model> replicate(uint64_t seed) const override;
  std::string type() const override { return kind_; }

 private:
  std::string kind_;
  std::shared_ptr<const InteractionCounts> counts_;
  std::vector<float> tie_break_;  // [items + 1] in [0, 0.5)
  uint64_t seed_;
};

}  // namespace heed::tasks
