#include "heed/metrics/chrf.h"

#include <algorithm>
#include <map>

#include "heed/core/error.h"
#include "heed/metrics/bleu.h"

namespace heed::metrics {

namespace {
// The text's characters (a UTF-8 sequence each; a stray byte counts as one) without white space.
std::vector<std::string> characters(const std::string& s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    if (const size_t n = unicode_space_bytes(s, i)) {
      i += n;
      continue;
    }
    const auto c = uint8_t(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 1;
    if (i + n > s.size()) n = 1;
    for (size_t k = 1; k < n; ++k)
      if ((uint8_t(s[i + k]) & 0xc0) != 0x80) n = 1;
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

std::map<std::string, int64_t> grams(const std::vector<std::string>& chars, size_t n) {
  std::map<std::string, int64_t> out;
  for (size_t i = 0; i + n <= chars.size(); ++i) {
    std::string g;
    for (size_t k = 0; k < n; ++k) g += chars[i + k];
    ++out[g];
  }
  return out;
}
}  // namespace

ChrfStatistics& ChrfStatistics::operator+=(const ChrfStatistics& o) {
  for (int n = 0; n < kChrfOrder; ++n) {
    candidate[size_t(n)] += o.candidate[size_t(n)];
    reference[size_t(n)] += o.reference[size_t(n)];
    matches[size_t(n)] += o.matches[size_t(n)];
  }
  return *this;
}

ChrfStatistics chrf_statistics(const std::string& candidate, const std::string& reference) {
  const std::vector<std::string> c = characters(candidate), r = characters(reference);
  ChrfStatistics s;
  for (size_t n = 1; n <= size_t(kChrfOrder); ++n) {
    const auto cg = grams(c, n), rg = grams(r, n);
    for (const auto& [g, k] : cg) {
      s.candidate[n - 1] += k;
      auto it = rg.find(g);
      if (it != rg.end()) s.matches[n - 1] += std::min(k, it->second);
    }
    for (const auto& [g, k] : rg) s.reference[n - 1] += k;
  }
  return s;
}

double chrf_score(const ChrfStatistics& s, double beta) {
  double precision = 0, recall = 0;
  int orders = 0;
  for (size_t n = 0; n < size_t(kChrfOrder); ++n) {
    if (s.candidate[n] == 0 || s.reference[n] == 0) continue;  // an order one side is too short for
    precision += double(s.matches[n]) / double(s.candidate[n]);
    recall += double(s.matches[n]) / double(s.reference[n]);
    ++orders;
  }
  if (orders == 0 || precision + recall == 0) return 0;
  precision /= orders;
  recall /= orders;
  const double b2 = beta * beta;
  return 100 * (1 + b2) * precision * recall / (b2 * precision + recall);
}

double corpus_chrf(const std::vector<std::string>& candidates, const std::vector<std::string>& references,
                   double beta) {
  HEED_CHECK(candidates.size() == references.size(), "chrf: ", candidates.size(), " candidates for ",
             references.size(), " references");
  ChrfStatistics total;
  for (size_t i = 0; i < candidates.size(); ++i) total += chrf_statistics(candidates[i], references[i]);
  return chrf_score(total, beta);
}

}  // namespace heed::metrics
