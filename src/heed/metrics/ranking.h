// Ranking metrics for leave-one-out style recommendation evaluation: each query has one true
// item, ranked among a set of candidates; a query is summarised by the 0-based rank of its true
// item (0 = ranked first).
#pragma once

#include <cstdint>
#include <vector>

namespace heed::metrics {

struct RankingMetrics {
  double hr = 0;        // hit rate @k: fraction of queries with rank < k
  double ndcg = 0;      // NDCG @k: mean of 1 / log2(rank + 2) over queries with rank < k, else 0
  double mrr = 0;       // mean reciprocal rank 1 / (rank + 1), over all ranks (not cut at k)
  int64_t k = 0;        // the cutoff used for hr and ndcg
  int64_t queries = 0;  // number of ranks averaged
};

// With a single relevant item the ideal DCG is 1, so NDCG@k of one query is simply
// 1 / log2(rank + 2) when rank < k. All functions throw heed::Error if `ranks` is empty, a rank
// is negative (the message names its index and value), or k < 1.
double hit_rate_at_k(const std::vector<int64_t>& ranks, int64_t k);
double ndcg_at_k(const std::vector<int64_t>& ranks, int64_t k);
double mean_reciprocal_rank(const std::vector<int64_t>& ranks);
RankingMetrics ranking_metrics(const std::vector<int64_t>& ranks, int64_t k);

// The 0-based rank of candidate `target` among scores[0, n): the number of other candidates
// with a strictly greater score. Ties therefore count in the target's favour (optimistic): a
// model that gives every candidate the same score ranks every target first, so callers whose
// models can produce exact ties should break them (e.g. add tiny noise) before ranking. Throws
// heed::Error if n < 1, target is outside [0, n), or any score is NaN (NaN would compare false
// and silently improve the rank).
int64_t rank_of_target(const float* scores, int64_t n, int64_t target);

// The indices of the min(k, n) highest of scores[0, n), highest first; ties keep the lower index
// first (what `predict --top-k` lists).
std::vector<int64_t> top_k(const float* scores, int64_t n, int64_t k);

}  // namespace heed::metrics
