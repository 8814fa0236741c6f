// Faithfulness, measured by the deletion test (Samek et al. 2017; the form Chefer et al. 2021
// use): remove input tokens most relevant first, follow the probability of the class predicted
// on the intact input, and take the area under that curve over the fraction removed. A method
// whose order drops the probability faster than a random order (lower area) finds what the
// model actually uses.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "heed/nn/model.h"

namespace heed::interpret {

// Builds the batch of `order.size() + 1` inputs in which the first k tokens of `order` are
// removed (k = 0 .. N) from the one-sample `input`.
using Ablation = std::function<nn::Batch(const nn::Batch& input, const std::vector<int64_t>& order)>;

// The probability of class `cls` after removing 0, 1, ..., N tokens in `order`.
std::vector<double> deletion_curve(nn::Model& model, const nn::Batch& input,
                                   const std::vector<int64_t>& order, int64_t cls,
                                   const Ablation& ablate);

// Trapezoidal area under a curve sampled at k / N, k = 0 .. N.
double area_under(const std::vector<double>& curve);

// Token indices by decreasing relevance (ties by index).
std::vector<int64_t> order_by_relevance(const std::vector<float>& relevance);

// Per method: the mean curve over samples and the mean area.
struct DeletionSummary {
  std::map<std::string, std::vector<double>> curve;
  std::map<std::string, double> area;
  int64_t samples = 0;
  void add(const std::string& method, const std::vector<double>& curve);
  void finish();  // sums -> means
};

}  // namespace heed::interpret
