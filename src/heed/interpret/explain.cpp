#include "heed/interpret/explain.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "heed/core/error.h"
#include "heed/interpret/relevance.h"

namespace heed::interpret {

namespace {
// Row 0 of a [1, H, T, T] capture as [H, T, T].
Tensor first_row(const Tensor& t, const char* what, size_t layer) {
  HEED_CHECK(t.defined() && t.dim() == 4 && t.size(0) == 1, "explain: layer ", layer, " ", what,
             " is ", t.defined() ? t.str() : "missing", ", expected [1, H, T, T]");
  return t.reshape({t.size(1), t.size(2), t.size(3)}).contiguous();
}
}  // namespace

Explanation explain(nn::Model& model, const nn::Batch& batch, const ExplainOptions& o) {
  HEED_CHECK(batch.size() == 1, "explain: one input at a time, got a batch of ", batch.size());
  model.eval();
  nn::ForwardOptions options;
  options.attention = true;
  options.attention_gradients = o.gradients;
  nn::ModelOutput out = model.forward(batch, options);
  HEED_CHECK(!out.attention.empty(), "explain: the model (", model.type(), ") has no attention layers");
  const Tensor logits = out.logits.value().contiguous();
  HEED_CHECK(logits.dim() == 2 && logits.size(0) == 1, "explain: logits ", logits.str(),
             " are not [1, classes]");
  const int64_t classes = logits.size(1);
  const float* z = logits.f32();
  Explanation e;
  e.predicted = std::max_element(z, z + classes) - z;
  HEED_CHECK(o.cls < classes, "explain: --class ", o.cls, " is outside the model's ", classes,
             " classes (0..", classes - 1, ")");
  const int64_t layers = int64_t(out.attention.size());
  const int64_t heads = out.attention[0]->probabilities.size(1);
  HEED_CHECK(o.layer < layers, "explain: --layer ", o.layer, " is outside the model's ", layers,
             " layers (0..", layers - 1, ")");
  HEED_CHECK(o.head < heads, "explain: --head ", o.head, " is outside the model's ", heads,
             " heads (0..", heads - 1, ")");
  e.explained = o.cls < 0 ? e.predicted : o.cls;
  const float top = z[e.predicted];
  double sum = 0;
  for (int64_t k = 0; k < classes; ++k) sum += std::exp(double(z[k] - top));
  for (int64_t k = 0; k < classes; ++k) e.probabilities.push_back(float(std::exp(double(z[k] - top)) / sum));

  if (o.gradients) {
    Tensor seed = Tensor::zeros(logits.shape());
    seed.f32()[e.explained] = 1.f;
    out.logits.backward(seed);  // fills every capture's gradient
    for (auto& [name, p] : model.named_parameters()) p->zero_grad();
  }
  for (size_t l = 0; l < out.attention.size(); ++l) {
    e.attention.push_back(first_row(out.attention[l]->probabilities, "attention", l));
    if (o.gradients) e.gradients.push_back(first_row(out.attention[l]->gradient, "gradient", l));
  }
  const Tensor& chosen = e.attention[size_t(o.layer < 0 ? layers - 1 : o.layer)];
  e.raw = o.head < 0 ? head_mean(chosen)
                     : head_mean(chosen.slice(0, o.head, o.head + 1).contiguous());
  e.rollout = rollout(e.attention);
  if (o.gradients) e.gradient_rollout = gradient_rollout(e.attention, e.gradients);
  return e;
}

const Tensor& relevance_of(const Explanation& e, const std::string& method) {
  if (method == "attention") return e.raw;
  if (method == "rollout") return e.rollout;
  if (method == "gradient_rollout") {
    HEED_CHECK(e.gradient_rollout.defined(), "explain: gradient_rollout needs the gradients");
    return e.gradient_rollout;
  }
  detail::fail("explain: no method '", method, "' (attention, rollout, gradient_rollout)");
}

}  // namespace heed::interpret
