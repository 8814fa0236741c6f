// ROUGE (Lin 2004) F1 for summaries, as Google's rouge-score package computes it by default:
// text lower-cased, every run of characters other than a-z and 0-9 a separator, no stemming;
// ROUGE-N from clipped n-gram overlaps, ROUGE-L from the longest common subsequence of tokens.
// A corpus figure is the mean of the per-summary F1 scores.
#pragma once

#include <string>
#include <vector>

namespace heed::metrics {

std::vector<std::string> rouge_tokens(const std::string& text);

struct RougeScores {
  double rouge1 = 0, rouge2 = 0, rougeL = 0;  // F1
};

RougeScores rouge(const std::string& candidate, const std::string& reference);
// The mean over pairs; candidates[i] is scored against references[i].
RougeScores corpus_rouge(const std::vector<std::string>& candidates, const std::vector<std::string>& references);

}  // namespace heed::metrics
