// What every next-token objective shares (the causal LM, the encoder-decoder's target side): a
// batch's "targets" (i64 [B, T], the next token, -100 where there is none), the model's hidden
// states at the target positions with its output weight (or its logits), cross-entropy over them
// (with label smoothing), and the evaluator of loss, perplexity (the selection
// metric, lower is better) and next-token accuracy.
#pragma once

#include <memory>

#include "heed/nn/model.h"
#include "heed/train/task.h"

namespace heed::tasks {

// The targets of a batch in the order the model gathers its positions (row-major).
Tensor next_token_targets(const Tensor& targets);
double next_token_weight(const nn::Batch& batch);
Var next_token_loss(const nn::ModelOutput& output, const nn::Batch& batch, float label_smoothing = 0.f);
// Cross-entropy of an output against targets i64 [M]: linear_cross_entropy over its hidden states
// [M, D] and output weight when it has one (the [M, V] logits are never whole), else over its
// logits [M, V]. The masked LM and SASRec's "ce" use it too.
Var output_cross_entropy(const nn::ModelOutput& output, const Tensor& targets, float label_smoothing = 0.f);
// What the evaluator reads and how it reports: the batch's label tensor (-100 = none), the JSON
// keys, the text line's subject, and whether the selection metric is the accuracy (masked LM)
// or the perplexity.
struct TokenReport {
  const char* targets = "targets";
  const char* count_key = "tokens";
  const char* accuracy_key = "next_token_accuracy";
  const char* subject = "next tokens";
  bool select_accuracy = false;
};
std::unique_ptr<train::Evaluator> next_token_evaluator(const TokenReport& report = {});

}  // namespace heed::tasks
