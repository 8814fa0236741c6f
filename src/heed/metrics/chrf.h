// chrF (Popović 2015) as sacreBLEU computes it by default: character n-grams of orders 1-6 over
// code points with all white space removed, counts summed over the corpus, precision and recall
// each averaged over the orders that occur on both sides, then F-beta with beta = 2; 0-100.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace heed::metrics {

inline constexpr int kChrfOrder = 6;

// Per order n (index n - 1): the candidate's n-grams, the reference's, and their clipped overlap.
struct ChrfStatistics {
  std::array<int64_t, kChrfOrder> candidate{}, reference{}, matches{};
  ChrfStatistics& operator+=(const ChrfStatistics& o);
};

ChrfStatistics chrf_statistics(const std::string& candidate, const std::string& reference);
double chrf_score(const ChrfStatistics& statistics, double beta = 2.0);
double corpus_chrf(const std::vector<std::string>& candidates, const std::vector<std::string>& references,
                   double beta = 2.0);

}  // namespace heed::metrics
