#include "heed/interpret/faithfulness.h"

#include <algorithm>
#include <numeric>

#include "heed/autograd/variable.h"
#include "heed/core/error.h"
#include "heed/ops/ops.h"

namespace heed::interpret {

std::vector<double> deletion_curve(nn::Model& model, const nn::Batch& input,
                                   const std::vector<int64_t>& order, int64_t cls,
                                   const Ablation& ablate) {
  const nn::Batch steps = ablate(input, order);
  HEED_CHECK(steps.size() == int64_t(order.size()) + 1, "deletion_curve: the ablation gave ",
             steps.size(), " inputs for ", order.size(), " tokens");
  NoGradGuard no_grad;
  model.eval();
  const Tensor p = softmax(model.forward(steps).logits).value().contiguous();
  HEED_CHECK(cls >= 0 && cls < p.size(1), "deletion_curve: class ", cls, " outside ", p.str());
  std::vector<double> curve;
  for (int64_t k = 0; k < p.size(0); ++k) curve.push_back(double(p.f32()[k * p.size(1) + cls]));
  return curve;
}

double area_under(const std::vector<double>& curve) {
  HEED_CHECK(curve.size() >= 2, "area_under: need at least two points");
  double area = 0;
  for (size_t k = 1; k < curve.size(); ++k) area += 0.5 * (curve[k - 1] + curve[k]);
  return area / double(curve.size() - 1);
}

std::vector<int64_t> order_by_relevance(const std::vector<float>& relevance) {
  std::vector<int64_t> order(relevance.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return relevance[size_t(a)] > relevance[size_t(b)]; });
  return order;
}

void DeletionSummary::add(const std::string& method, const std::vector<double>& c) {
  std::vector<double>& sum = curve[method];
  if (sum.empty()) sum.assign(c.size(), 0.0);
  HEED_CHECK(sum.size() == c.size(), "DeletionSummary: curves of ", sum.size(), " and ", c.size(), " points");
  for (size_t k = 0; k < c.size(); ++k) sum[k] += c[k];
  area[method] += area_under(c);
}

void DeletionSummary::finish() {
  HEED_CHECK(samples > 0, "DeletionSummary: no samples");
  for (auto& [m, c] : curve)
    for (double& x : c) x /= double(samples);
  for (auto& [m, a] : area) a /= double(samples);
}

}  // namespace heed::interpret
