#include "heed/compress/head_pruning.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <tuple>

#include "heed/core/error.h"
#include "heed/nn/attention.h"

namespace heed::compress {

namespace {
std::vector<nn::MultiHeadAttention*> attention_layers(nn::Module& model) {
  std::vector<nn::MultiHeadAttention*> layers;
  model.for_each_module([&](nn::Module& m) {
    if (auto* a = dynamic_cast<nn::MultiHeadAttention*>(&m)) layers.push_back(a);
  });
  return layers;
}
}  // namespace

HeadImportance head_importance(nn::Model& model, const train::Task& task, const train::Dataset& data,
                               const train::BatchPlan& plan, int64_t max_examples) {
  HEED_CHECK(max_examples >= 0, "head importance: the number of examples must be >= 0, got ", max_examples);
  model.eval();  // no dropout: the gradients are the deterministic model's
  nn::ForwardOptions options;
  options.attention = true;
  options.attention_gradients = true;
  HeadImportance out;
  for (std::vector<int64_t> indices : plan.epoch(0)) {
    if (max_examples > 0 && out.examples >= max_examples) break;
    if (max_examples > 0 && out.examples + int64_t(indices.size()) > max_examples)
      indices.resize(size_t(max_examples - out.examples));
    const nn::Batch batch = data.batch(indices, {});
    const double weight = task.target_weight(batch);
    out.examples += int64_t(indices.size());
    if (weight <= 0) continue;  // nothing counted: no gradient
    nn::ModelOutput o = model.forward(batch, options);
    HEED_CHECK(!o.attention.empty(), "head importance: the model (", model.type(), ") has no attention layers");
    task.loss(o, batch).backward();
    for (auto& [name, p] : model.named_parameters()) p->zero_grad();
    if (out.raw.empty())
      for (const auto& capture : o.attention) out.raw.emplace_back(size_t(capture->probabilities.size(1)), 0.0);
    HEED_CHECK(out.raw.size() == o.attention.size(), "head importance: the model returned ", o.attention.size(),
               " attention layers, earlier ", out.raw.size());
    for (size_t l = 0; l < o.attention.size(); ++l) {
      const Tensor p = o.attention[l]->probabilities.contiguous(), g = o.attention[l]->gradient.contiguous();
      HEED_CHECK(p.dim() == 4 && g.defined() && g.shape() == p.shape() && p.size(1) == int64_t(out.raw[l].size()),
                 "head importance: layer ", l, " captured ", p.str(), " with gradient ",
                 g.defined() ? g.str() : "none");
      const int64_t b = p.size(0), h = p.size(1), cells = p.size(2) * p.size(3);
      for (int64_t i = 0; i < b; ++i)
        for (int64_t k = 0; k < h; ++k) {
          // The batch loss is the weighted mean: scaling by its total weight gives each
          // example's own (weighted) derivative before the absolute value.
          const float* pa = p.f32() + (i * h + k) * cells;
          const float* ga = g.f32() + (i * h + k) * cells;
          double s = 0;
          for (int64_t c = 0; c < cells; ++c) s += double(pa[c]) * double(ga[c]);
          out.raw[l][size_t(k)] += std::fabs(s * weight);
        }
    }
  }
  HEED_CHECK(!out.raw.empty(), "head importance: no examples with a label in the data");
  for (const std::vector<double>& layer : out.raw) {
    double norm = 0;
    for (double v : layer) norm += v * v;
    norm = std::sqrt(norm);
    std::vector<double> n(layer.size());
    for (size_t k = 0; k < layer.size(); ++k) n[k] = norm > 0 ? layer[k] / norm : 0.0;
    out.normalized.push_back(std::move(n));
  }
  return out;
}

std::vector<std::vector<bool>> heads_to_prune(const HeadImportance& importance, double fraction) {
  HEED_CHECK(std::isfinite(fraction) && fraction >= 0 && fraction <= 1, "prune: the fraction of heads must be in [0, 1], got ",
             fraction);
  std::vector<std::vector<bool>> pruned;
  std::vector<std::tuple<double, size_t, size_t>> order;  // (importance, layer, head): ties by position
  size_t total = 0;
  for (size_t l = 0; l < importance.normalized.size(); ++l) {
    pruned.emplace_back(importance.normalized[l].size(), false);
    for (size_t k = 0; k < importance.normalized[l].size(); ++k) order.emplace_back(importance.normalized[l][k], l, k);
    total += importance.normalized[l].size();
  }
  std::sort(order.begin(), order.end());
  const size_t want = size_t(std::floor(fraction * double(total) + 1e-9));
  std::vector<size_t> left(pruned.size());
  for (size_t l = 0; l < pruned.size(); ++l) left[l] = pruned[l].size();
  size_t removed = 0;
  for (const auto& [score, l, k] : order) {
    if (removed == want) break;
    if (left[l] <= 1) continue;  // the layer's last head stays
    pruned[l][k] = true;
    --left[l];
    ++removed;
  }
  return pruned;
}

void mask_heads(nn::Module& model, const std::vector<std::vector<bool>>& pruned) {
  HEED_CHECK(!model.quantized(), "prune: mask heads on the f32 model, then quantise (the int8 weights would keep them)");
  const std::vector<nn::MultiHeadAttention*> layers = attention_layers(model);
  HEED_CHECK(layers.size() == pruned.size(), "prune: the model has ", layers.size(), " attention layers, the head "
             "importance ", pruned.size());
  for (size_t l = 0; l < layers.size(); ++l) {
    nn::MultiHeadAttention& a = *layers[l];
    HEED_CHECK(int64_t(pruned[l].size()) == a.heads, "prune: attention layer ", l, " has ", a.heads,
               " heads, the head importance ", pruned[l].size());
    Tensor w = a.in_proj_weight.value();  // [3E, E]: queries, keys, values; head k's rows k*d .. (k+1)*d
    Tensor b = a.in_proj_bias.defined() ? a.in_proj_bias.value() : Tensor();
    HEED_CHECK(w.is_contiguous() && w.dim() == 2 && w.size(0) == 3 * a.inner_dim, "prune: attention layer ", l,
               " has a packed projection ", w.str(), ", expected [", 3 * a.inner_dim, ", E]");
    for (int64_t k = 0; k < a.heads; ++k) {
      if (!pruned[l][size_t(k)]) continue;
      const int64_t first = 2 * a.inner_dim + k * a.head_dim;
      std::fill_n(w.f32() + first * w.size(1), a.head_dim * w.size(1), 0.f);
      if (b.defined()) std::fill_n(b.f32() + first, a.head_dim, 0.f);
    }
  }
}

}  // namespace heed::compress
