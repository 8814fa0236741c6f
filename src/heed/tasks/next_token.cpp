#include "heed/tasks/next_token.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "heed/ops/ops.h"

namespace heed::tasks {

Tensor next_token_targets(const Tensor& targets) {
  std::vector<int64_t> out;
  for (int64_t i = 0; i < targets.numel(); ++i)
    if (targets.i64()[i] != -100) out.push_back(targets.i64()[i]);
  return Tensor::from_indices({int64_t(out.size())}, out);
}

double next_token_weight(const nn::Batch& batch) { return double(next_token_targets(batch.at("targets")).numel()); }

Var next_token_loss(const nn::ModelOutput& output, const nn::Batch& batch, float label_smoothing) {
  return output_cross_entropy(output, next_token_targets(batch.at("targets")), label_smoothing);
}

Var output_cross_entropy(const nn::ModelOutput& output, const Tensor& targets, float label_smoothing) {
  if (output.output_weight.defined())
    return linear_cross_entropy(output.logits, output.output_weight, targets, -100, 0, label_smoothing);
  CrossEntropyOptions o;
  o.label_smoothing = label_smoothing;
  return cross_entropy(output.logits, targets, o);
}

namespace {
// Hidden states [M, D] and the output weight [V, D] (or logits [M, V]) -> summed loss and correct
// arg maxes, a chunk of rows at a time (the logits of a whole evaluation batch would not fit).
class NextTokenEvaluator : public train::Evaluator {
 public:
  explicit NextTokenEvaluator(const TokenReport& report) : report_(report) {}
  void add(const nn::ModelOutput& output, const nn::Batch& batch) override {
    const Tensor targets = next_token_targets(batch.at(report_.targets));
    const int64_t m = targets.numel();
    if (m == 0) return;
    const Tensor& rows = output.logits.value();
    constexpr int64_t kChunk = 256;
    for (int64_t begin = 0; begin < m; begin += kChunk) {
      const int64_t end = std::min(m, begin + kChunk);
      const Tensor chunk = rows.slice(0, begin, end).contiguous();
      const Tensor logits = output.output_weight.defined() ? linear(Var(chunk), output.output_weight).value() : chunk;
      const Tensor chunk_targets = targets.slice(0, begin, end).contiguous();
      loss_sum_ += double(cross_entropy(Var(logits), chunk_targets).value().item()) * double(end - begin);
      const int64_t v = logits.size(1);
      for (int64_t i = 0; i < end - begin; ++i) {
        const float* row = logits.f32() + i * v;
        correct_ += (std::max_element(row, row + v) - row) == chunk_targets.i64()[i];
      }
    }
    count_ += m;
  }
  train::EvalResult finish() override {
    train::EvalResult r;
    r.loss = count_ ? loss_sum_ / double(count_) : 0;
    const double perplexity = std::exp(r.loss), accuracy = count_ ? double(correct_) / double(count_) : 0;
    r.metric = report_.select_accuracy ? accuracy : perplexity;
    r.json = {{report_.count_key, count_}, {"loss", r.loss}, {"perplexity", perplexity},
              {report_.accuracy_key, accuracy}};
    char text[256];
    std::snprintf(text, sizeof text, "%s %ld: loss %.4f, perplexity %.2f, accuracy %.4f\n", report_.subject,
                  long(count_), r.loss, perplexity, accuracy);
    r.text = text;
    return r;
  }

 private:
  TokenReport report_;
  double loss_sum_ = 0;
  int64_t correct_ = 0, count_ = 0;
};
}  // namespace

std::unique_ptr<train::Evaluator> next_token_evaluator(const TokenReport& report) {
  return std::make_unique<NextTokenEvaluator>(report);
}

}  // namespace heed::tasks
