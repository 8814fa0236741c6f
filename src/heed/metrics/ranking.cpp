#include "heed/metrics/ranking.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "heed/core/error.h"

namespace heed::metrics {
namespace {

void check_ranks(const char* op, const std::vector<int64_t>& ranks) {
  HEED_CHECK(!ranks.empty(), op, ": no queries (ranks is empty)");
  for (size_t i = 0; i < ranks.size(); ++i) {
    HEED_CHECK(ranks[i] >= 0, op, ": ranks[", i, "] = ", ranks[i], " is negative");
  }
}

void check_k(const char* op, int64_t k) { HEED_CHECK(k >= 1, op, ": k = ", k, " must be >= 1"); }

// The mean over queries of gain(rank), after validating the ranks.
template <class Gain>
double mean_gain(const char* op, const std::vector<int64_t>& ranks, Gain gain) {
  check_ranks(op, ranks);
  double sum = 0.0;
  for (int64_t rank : ranks) sum += gain(rank);
  return sum / static_cast<double>(ranks.size());
}

}  // namespace

double hit_rate_at_k(const std::vector<int64_t>& ranks, int64_t k) {
  check_k("hit_rate_at_k", k);
  return mean_gain("hit_rate_at_k", ranks, [k](int64_t rank) { return rank < k ? 1.0 : 0.0; });
}

double ndcg_at_k(const std::vector<int64_t>& ranks, int64_t k) {
  check_k("ndcg_at_k", k);
  return mean_gain("ndcg_at_k", ranks, [k](int64_t rank) {
    return rank < k ? 1.0 / std::log2(static_cast<double>(rank) + 2.0) : 0.0;
  });
}

double mean_reciprocal_rank(const std::vector<int64_t>& ranks) {
  return mean_gain("mean_reciprocal_rank", ranks,
                   [](int64_t rank) { return 1.0 / (static_cast<double>(rank) + 1.0); });
}

RankingMetrics ranking_metrics(const std::vector<int64_t>& ranks, int64_t k) {
  // Validate first so errors name this function rather than the helper that noticed.
  check_k("ranking_metrics", k);
  check_ranks("ranking_metrics", ranks);
  return {hit_rate_at_k(ranks, k), ndcg_at_k(ranks, k), mean_reciprocal_rank(ranks), k,
          static_cast<int64_t>(ranks.size())};
}

int64_t rank_of_target(const float* scores, int64_t n, int64_t target) {
  HEED_CHECK(n >= 1, "rank_of_target: n = ", n, " candidates, need at least 1");
  HEED_CHECK(scores != nullptr, "rank_of_target: scores is null");
  HEED_CHECK(target >= 0 && target < n, "rank_of_target: target = ", target, " is outside [0, ", n,
             ")");
  const float target_score = scores[target];
  int64_t rank = 0;
  for (int64_t i = 0; i < n; ++i) {
    HEED_CHECK(!std::isnan(scores[i]), "rank_of_target: scores[", i, "] is NaN");
    if (scores[i] > target_score) ++rank;
  }
  return rank;
}

std::vector<int64_t> top_k(const float* scores, int64_t n, int64_t k) {
  HEED_CHECK(n >= 0 && k >= 0, "top_k: n = ", n, ", k = ", k);
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  k = std::min(k, n);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [scores](int64_t a, int64_t b) { return scores[a] > scores[b] || (scores[a] == scores[b] && a < b); });
  order.resize(static_cast<size_t>(k));
  return order;
}

}  // namespace heed::metrics
