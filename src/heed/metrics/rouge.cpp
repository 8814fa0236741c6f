#include "heed/metrics/rouge.h"

#include <algorithm>
#include <map>

#include "heed/core/error.h"

namespace heed::metrics {

std::vector<std::string> rouge_tokens(const std::string& text) {
  std::vector<std::string> out;
  std::string current;
  for (char ch : text) {
    const char c = (ch >= 'A' && ch <= 'Z') ? char(ch - 'A' + 'a') : ch;
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
      current += c;
    } else if (!current.empty()) {
      out.push_back(std::move(current));
      current.clear();
    }
  }
  if (!current.empty()) out.push_back(std::move(current));
  return out;
}

namespace {
double f1(double overlap, double candidate, double reference) {
  if (overlap == 0 || candidate == 0 || reference == 0) return 0;
  const double p = overlap / candidate, r = overlap / reference;
  return 2 * p * r / (p + r);
}

double rouge_n(const std::vector<std::string>& c, const std::vector<std::string>& r, size_t n) {
  auto grams = [n](const std::vector<std::string>& t) {
    std::map<std::vector<std::string>, int64_t> out;
    for (size_t i = 0; i + n <= t.size(); ++i) ++out[std::vector<std::string>(t.begin() + long(i), t.begin() + long(i + n))];
    return out;
  };
  const auto cg = grams(c), rg = grams(r);
  double overlap = 0, total_c = 0, total_r = 0;
  for (const auto& [g, k] : cg) {
    total_c += double(k);
    auto it = rg.find(g);
    if (it != rg.end()) overlap += double(std::min(k, it->second));
  }
  for (const auto& [g, k] : rg) total_r += double(k);
  return f1(overlap, total_c, total_r);
}

double rouge_l(const std::vector<std::string>& c, const std::vector<std::string>& r) {
  std::vector<int64_t> previous(r.size() + 1, 0), row(r.size() + 1, 0);
  for (size_t i = 1; i <= c.size(); ++i) {
    for (size_t j = 1; j <= r.size(); ++j)
      row[j] = c[i - 1] == r[j - 1] ? previous[j - 1] + 1 : std::max(previous[j], row[j - 1]);
    std::swap(previous, row);
  }
  return f1(double(previous[r.size()]), double(c.size()), double(r.size()));
}
}  // namespace

RougeScores rouge(const std::string& candidate, const std::string& reference) {
  const auto c = rouge_tokens(candidate), r = rouge_tokens(reference);
  return {rouge_n(c, r, 1), rouge_n(c, r, 2), rouge_l(c, r)};
}

RougeScores corpus_rouge(const std::vector<std::string>& candidates, const std::vector<std::string>& references) {
  HEED_CHECK(candidates.size() == references.size(), "rouge: ", candidates.size(), " candidates for ",
             references.size(), " references");
  RougeScores mean;
  for (size_t i = 0; i < candidates.size(); ++i) {
    const RougeScores s = rouge(candidates[i], references[i]);
    mean.rouge1 += s.rouge1;
    mean.rouge2 += s.rouge2;
    mean.rougeL += s.rougeL;
  }
  const double n = candidates.empty() ? 1 : double(candidates.size());
  return {mean.rouge1 / n, mean.rouge2 / n, mean.rougeL / n};
}

}  // namespace heed::metrics
