// Sequential recommendation (the article's recommender use; SASRec, Kang & McAuley 2018) as a task
// on the one trainer: an interaction log (data/interactions.h) turned into one time-ordered item
// sequence per user, split leave-one-out; SASRec trained to predict every next item of the
// training part (full softmax cross-entropy or the paper's BCE with a sampled negative); model
// selection and `heed eval` by ranking the held-out item under both protocols, with the
// most-popular and first-order Markov baselines beside it (tasks/recommendation_eval.h).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/data/interactions.h"
#include "heed/nn/models/sasrec.h"
#include "heed/tasks/recommendation_eval.h"
#include "heed/tasks/registry.h"
#include "heed/train/config_schema.h"
#include "heed/train/options.h"
#include "heed/train/trainer.h"

namespace heed::nn {
template <class V>
void visit(V& v, SasRecConfig& m) {
  using namespace train::rule;
  v("dim", m.dim, positive());
  v("depth", m.depth, positive());
  v("heads", m.heads, positive());
  v("mlp_ratio", m.mlp_ratio, positive());
  v("max_len", m.max_len, positive());
  v("dropout", m.dropout, in(0, 1, true));
  v("attention_dropout", m.attention_dropout, in(0, 1, true));
  v("layer_norm_eps", m.layer_norm_eps, positive());
  v("loss", m.loss, one_of({"ce", "bce"}));
  v("positions", m.positions, one_of({"start", "end"}));
  v("items", m.items, positive());
}
}  // namespace heed::nn

namespace heed::tasks {

inline constexpr const char* kSequentialRecommendation = "sequential-recommendation";

struct SequenceData {
  std::string train;  // the interaction log; validation and test are its leave-one-out items
  std::string titles;  // optional: a table of item id -> title (MovieLens's movies.csv)
  std::string user_column = "userId", item_column = "movieId", time_column = "timestamp";
  std::string title_column = "title";
  int64_t min_user_interactions = 3, min_item_interactions = 1;
  // Training samples per user: "last" (the paper: the last max_len steps of the training part)
  // or "all" (every max_len window of it, newest first: long histories are not thrown away).
  std::string windows = "last";
  int64_t negatives = 100;  // sampled-protocol negatives per user
  std::string select_metric = "full_ndcg@10";
  int64_t eval_batch_size = 128;
  int64_t bucket_batches = 20;  // length-bucketed training batches; 0: random
};

template <class V>
void visit(V& v, SequenceData& d) {
  using namespace train::rule;
  v("train", d.train, neutral(non_empty()));
  v("titles", d.titles, neutral());
  v("user_column", d.user_column, non_empty());
  v("item_column", d.item_column, non_empty());
  v("time_column", d.time_column, non_empty());
  v("title_column", d.title_column, neutral(non_empty()));
  v("min_user_interactions", d.min_user_interactions, at_least(3));
  v("min_item_interactions", d.min_item_interactions, at_least(1));
  v("windows", d.windows, one_of({"last", "all"}));
  v("negatives", d.negatives, positive());
  v("select_metric", d.select_metric, non_empty());
  v("eval_batch_size", d.eval_batch_size, neutral(positive()));
  v("bucket_batches", d.bucket_batches, non_negative());
}

struct SequentialRecommendationConfig {
  nn::SasRecConfig model;
  train::TrainOptions train;
  SequenceData data;
};

SequentialRecommendationConfig parse_sequential_recommendation_config(const nlohmann::json& json);
nlohmann::json to_json(const SequentialRecommendationConfig& config);

// The training samples: windows of a user's training part, inputs s[i..j) and next items
// s[i+1..j+1), right-padded; "bce" adds one negative per position, drawn outside the user's
// training items as a pure function of (seed, epoch, sample, position).
class SequenceWindows : public train::Dataset {
 public:
  SequenceWindows(const std::vector<std::vector<int32_t>>& train, int64_t items, int64_t max_len, bool all_windows,
                  bool negatives);
  int64_t size() const override { return int64_t(windows_.size()); }
  int64_t length(int64_t index) const override { return windows_[size_t(index)].length; }
  nn::Batch batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const override;
  std::vector<int64_t> lengths() const;
  int64_t pairs() const;  // (input, next item) pairs over all windows

 private:
  struct Window {
    int64_t user, begin, length;  // inputs train[user][begin, begin + length), next items one later
  };
  const std::vector<std::vector<int32_t>>& train_;
  std::vector<std::vector<int32_t>> seen_;  // per user, sorted unique training items
  std::vector<Window> windows_;
  int64_t items_;
  bool negatives_;
};

class SequentialRecommendationTask : public train::Task {
 public:
  // label_smoothing: train.label_smoothing, for the full cross-entropy only (the config parser
  // refuses it with "bce").
  SequentialRecommendationTask(std::string loss, std::string metric, float label_smoothing = 0.f)
      : loss_(std::move(loss)), metric_(std::move(metric)), label_smoothing_(label_smoothing) {}
  std::string name() const override { return kSequentialRecommendation; }
  std::string metric_name() const override { return metric_; }
  double target_weight(const nn::Batch& batch) const override;
  Var loss(const nn::ModelOutput& output, const nn::Batch& batch) const override;
  std::unique_ptr<train::Evaluator> evaluator() const override;

 private:
  std::string loss_, metric_;
  float label_smoothing_;
};

// A log read, filtered and split as `heed train` does it.
struct LeaveOneOutData {
  data::UserSequences sequences;
  std::vector<std::vector<int32_t>> train;  // per user, all but the last two items
  std::vector<std::vector<int32_t>> seen;   // per user, every item (sorted, unique)
};
LeaveOneOutData read_leave_one_out(const SequenceData& data, const std::string& path);

// The validation (input: training part) or test (input: training part + validation item) queries.
enum class Split { Validation, Test };
std::unique_ptr<RankingQueries> ranking_queries(const LeaveOneOutData& d, Split split, int64_t max_len,
                                               int64_t negatives, uint64_t seed);

train::TrainResult train_sequential_recommendation(const SequentialRecommendationConfig& config,
                                                   const std::string& out_dir, bool resume);

const TaskEntry& sequential_recommendation_entry();

}  // namespace heed::tasks

namespace heed::tasks {

// `heed recommend`: the top items after a history of raw item ids (--history), or after the
// whole sequence of a user of a log (--user, --data: default the trained-on log). Items of the
// history are never recommended. History ids the checkpoint does not know are listed on stderr
// and skipped; a history with none it knows is an error.
struct RecommendCommand {
  train::Checkpoint checkpoint;
  std::string history;  // "318,296,593"
  std::string user;     // a raw user id of `data`
  std::string data, titles;  // empty: the config's data.train / data.titles
  int64_t top_k = 10;
  bool json = false;
};
void recommend(const RecommendCommand& command);

}  // namespace heed::tasks
