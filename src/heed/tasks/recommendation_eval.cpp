#include "heed/tasks/recommendation_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "heed/core/rng.h"
#include "heed/metrics/ranking.h"

namespace heed::tasks {

using nlohmann::json;

namespace {
// Up to `count` distinct items of 1..items outside `seen` (sorted), drawn by rejection from the
// counter-based stream (seed, salt, user): the same for every run, thread count and batch.
std::vector<int32_t> draw_negatives(const std::vector<int32_t>& seen, int64_t items, int64_t count, uint64_t seed,
                                    uint64_t user) {
  std::vector<int32_t> out;
  const int64_t unseen = items - int64_t(seen.size());
  if (unseen <= count) {  // every unseen item
    for (int32_t j = 1; j <= items; ++j)
      if (!std::binary_search(seen.begin(), seen.end(), j)) out.push_back(j);
    return out;
  }
  std::vector<int32_t> chosen;
  for (uint64_t attempt = 0; int64_t(out.size()) < count; ++attempt) {
    const int32_t j = int32_t(1 + random_bits(seed, (user << 24) + attempt) % uint64_t(items));
    if (std::binary_search(seen.begin(), seen.end(), j)) continue;
    if (std::find(out.begin(), out.end(), j) != out.end()) continue;
    out.push_back(j);
  }
  return out;
}
}  // namespace

RankingQueries::RankingQueries(std::vector<std::vector<int32_t>> inputs, std::vector<int32_t> targets,
                               const std::vector<std::vector<int32_t>>& seen, int64_t items, int64_t max_len,
                               int64_t negatives, uint64_t seed, uint64_t salt)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), max_len_(max_len) {
  HEED_CHECK(inputs_.size() == targets_.size() && inputs_.size() == seen.size(),
             "ranking queries: inputs, targets and seen items differ in count");
  const uint64_t stream = random_bits(seed, salt);
  for (size_t u = 0; u < inputs_.size(); ++u)
    negatives_.push_back(draw_negatives(seen[u], items, negatives, stream, uint64_t(u)));
}

nn::Batch RankingQueries::batch(const std::vector<int64_t>& indices, const train::BatchContext&) const {
  const int64_t b = int64_t(indices.size());
  int64_t t = 1, h = 1, n = 1;
  for (int64_t i : indices) {
    t = std::max<int64_t>(t, std::min<int64_t>(max_len_, int64_t(inputs_[size_t(i)].size())));
    h = std::max<int64_t>(h, int64_t(inputs_[size_t(i)].size()));
    n = std::max<int64_t>(n, int64_t(negatives_[size_t(i)].size()));
  }
  Tensor items = Tensor::zeros({b, t}, DType::I64), lengths = Tensor::zeros({b}, DType::I64);
  Tensor target = Tensor::zeros({b}, DType::I64), history = Tensor::zeros({b, h}, DType::I64);
  Tensor negatives = Tensor::zeros({b, n}, DType::I64);
  for (int64_t r = 0; r < b; ++r) {
    const std::vector<int32_t>& in = inputs_[size_t(indices[size_t(r)])];
    const int64_t len = std::min<int64_t>(max_len_, int64_t(in.size())), start = int64_t(in.size()) - len;
    for (int64_t p = 0; p < len; ++p) items.i64()[r * t + p] = in[size_t(start + p)];
    for (size_t p = 0; p < in.size(); ++p) history.i64()[r * h + int64_t(p)] = in[p];
    lengths.i64()[r] = len;
    target.i64()[r] = targets_[size_t(indices[size_t(r)])];
    const std::vector<int32_t>& neg = negatives_[size_t(indices[size_t(r)])];
    for (size_t p = 0; p < neg.size(); ++p) negatives.i64()[r * n + int64_t(p)] = neg[p];
  }
  nn::Batch out;
  out.tensors = {{"items", items}, {"lengths", lengths}, {"target", target}, {"history", history},
                 {"negatives", negatives}};
  out.indices = indices;
  return out;
}

int64_t full_rank(const float* scores, int64_t items, int64_t target, const int64_t* history, int64_t history_size) {
  HEED_CHECK(target >= 1 && target <= items, "full ranking: target item ", target, " outside 1..", items);
  const float s = scores[target];
  HEED_CHECK(!std::isnan(s), "full ranking: the target's score is NaN");
  int64_t above = 0;
  for (int64_t j = 1; j <= items; ++j) {
    HEED_CHECK(!std::isnan(scores[j]), "full ranking: the score of item ", j, " is NaN");
    above += scores[j] > s;
  }
  // History items (padding 0 aside, each counted once) are not candidates.
  std::vector<int64_t> seen(history, history + history_size);
  std::sort(seen.begin(), seen.end());
  seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
  for (int64_t j : seen)
    if (j >= 1 && j <= items && j != target && scores[j] > s) --above;
  return above;
}

int64_t sampled_rank(const float* scores, int64_t target, const int64_t* negatives, int64_t count) {
  std::vector<float> candidates = {scores[target]};
  for (int64_t i = 0; i < count; ++i)
    if (negatives[i] != 0) candidates.push_back(scores[negatives[i]]);
  return metrics::rank_of_target(candidates.data(), int64_t(candidates.size()), 0);
}

void check_ranking_metric(const std::string& name) {
  for (const char* protocol : {"full_", "sampled_"})
    for (const char* what : {"hr@", "ndcg@"})
      for (int64_t k : kRankingCutoffs)
        if (name == std::string(protocol) + what + std::to_string(k)) return;
  detail::fail("data.select_metric: \"", name, "\" is not full_ or sampled_, hr or ndcg, @1, @5, @10 or @20 "
               "(e.g. full_ndcg@10)");
}

RankingEvaluator::RankingEvaluator(std::string metric) : metric_(std::move(metric)) { check_ranking_metric(metric_); }

void RankingEvaluator::add(const nn::ModelOutput& output, const nn::Batch& batch) {
  const Tensor& scores = output.logits.value();
  const Tensor& target = batch.at("target");
  const Tensor& history = batch.at("history");
  const Tensor& negatives = batch.at("negatives");
  const int64_t b = target.numel(), columns = scores.size(1), items = columns - 1;
  HEED_CHECK(scores.dim() == 2 && scores.size(0) == b, "ranking: scores ", scores.str(), " for ", b, " queries");
  for (int64_t r = 0; r < b; ++r) {
    const float* row = scores.f32() + r * columns;
    const int64_t t = target.i64()[r];
    full_.push_back(full_rank(row, items, t, history.i64() + r * history.size(1), history.size(1)));
    sampled_.push_back(sampled_rank(row, t, negatives.i64() + r * negatives.size(1), negatives.size(1)));
    // Cross-entropy of the target under a softmax over the real items: the log shows it falling.
    float top = -std::numeric_limits<float>::infinity();
    for (int64_t j = 1; j < columns; ++j) top = std::max(top, row[j]);
    double z = 0;
    for (int64_t j = 1; j < columns; ++j) z += std::exp(double(row[j] - top));
    loss_sum_ += std::log(z) - double(row[t] - top);
  }
}

train::EvalResult RankingEvaluator::finish() {
  train::EvalResult r;
  const int64_t n = int64_t(full_.size());
  r.loss = n ? loss_sum_ / double(n) : 0;
  json j = {{"users", n}, {"loss", r.loss}};
  std::string text;
  char line[256];
  std::snprintf(line, sizeof line, "%-8s %6s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "protocol", "users", "HR@1",
                "HR@5", "HR@10", "HR@20", "NDCG@1", "NDCG@5", "NDCG@10", "NDCG@20", "MRR");
  text += line;
  for (auto [protocol, ranks] : {std::pair<const char*, const std::vector<int64_t>*>{"full", &full_},
                                 {"sampled", &sampled_}}) {
    json p = json::object();
    std::string hr, ndcg;
    for (int64_t k : kRankingCutoffs) {
      const double h = n ? metrics::hit_rate_at_k(*ranks, k) : 0, g = n ? metrics::ndcg_at_k(*ranks, k) : 0;
      p["hr@" + std::to_string(k)] = h;
      p["ndcg@" + std::to_string(k)] = g;
      std::snprintf(line, sizeof line, " %8.4f", h);
      hr += line;
      std::snprintf(line, sizeof line, " %8.4f", g);
      ndcg += line;
      if (metric_ == std::string(protocol) + "_hr@" + std::to_string(k)) r.metric = h;
      if (metric_ == std::string(protocol) + "_ndcg@" + std::to_string(k)) r.metric = g;
    }
    p["mrr"] = n ? metrics::mean_reciprocal_rank(*ranks) : 0;
    j[protocol] = p;
    std::snprintf(line, sizeof line, "%-8s %6ld%s%s %8.4f\n", protocol, long(n), hr.c_str(), ndcg.c_str(),
                  p["mrr"].get<double>());
    text += line;
  }
  r.json = j;
  r.text = text;
  return r;
}

InteractionCounts count_interactions(const std::vector<std::vector<int32_t>>& train, int64_t items) {
  InteractionCounts c;
  c.items = items;
  c.popularity.assign(size_t(items + 1), 0.0);
  c.next.resize(size_t(items + 1));
  std::vector<std::vector<int32_t>> follows(size_t(items + 1));
  for (const std::vector<int32_t>& s : train)
    for (size_t i = 0; i < s.size(); ++i) {
      c.popularity[size_t(s[i])] += 1;
      if (i + 1 < s.size()) follows[size_t(s[i])].push_back(s[i + 1]);
    }
  for (size_t a = 0; a < follows.size(); ++a) {
    std::sort(follows[a].begin(), follows[a].end());
    for (size_t i = 0; i < follows[a].size();) {
      size_t e = i;
      while (e < follows[a].size() && follows[a][e] == follows[a][i]) ++e;
      c.next[a].emplace_back(follows[a][i], double(e - i));
      i = e;
    }
  }
  return c;
}

CountBaseline::CountBaseline(std::string kind, std::shared_ptr<const InteractionCounts> counts, uint64_t seed)
    : kind_(std::move(kind)), counts_(std::move(counts)), seed_(seed) {
  HEED_CHECK(kind_ == "popular" || kind_ == "markov", "baseline: unknown kind '", kind_, "'");
  tie_break_.resize(size_t(counts_->items + 1));
  for (size_t j = 0; j < tie_break_.size(); ++j) tie_break_[j] = 0.5f * random_uniform(seed ^ 0x7469657321ull, j);
}

nn::ModelOutput CountBaseline::forward(const nn::Batch& batch, const nn::ForwardOptions&) {
  const Tensor& items = batch.at("items");
  const Tensor& lengths = batch.at("lengths");
  const int64_t b = items.size(0), t = items.size(1), columns = counts_->items + 1;
  const double top = *std::max_element(counts_->popularity.begin(), counts_->popularity.end()) + 1;
  Tensor scores = Tensor::empty({b, columns});
  for (int64_t r = 0; r < b; ++r) {
    float* row = scores.f32() + r * columns;
    for (int64_t j = 0; j < columns; ++j) row[j] = float(counts_->popularity[size_t(j)]) + tie_break_[size_t(j)];
    if (kind_ != "markov" || lengths.i64()[r] == 0) continue;
    // Transitions dominate; popularity orders the items that never followed the last one.
    const int64_t last = items.i64()[r * t + lengths.i64()[r] - 1];
    for (auto [j, count] : counts_->next[size_t(last)]) row[j] += float(count * top);
  }
  nn::ModelOutput out;
  out.logits = Var(scores);
  return out;
}

std::unique_ptr<nn::Model> CountBaseline::replicate(uint64_t) const {
  return std::make_unique<CountBaseline>(kind_, counts_, seed_);
}

}  // namespace heed::tasks
