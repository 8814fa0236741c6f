// Attention-head importance and head masking, after Michel, Levy & Neubig (2019), "Are Sixteen
// Heads Really Better than One?": `heed prune` (docs/compression.md).
#pragma once

#include <cstdint>
#include <vector>

#include "heed/nn/model.h"
#include "heed/train/batch_loader.h"
#include "heed/train/task.h"

namespace heed::compress {

struct HeadImportance {
  std::vector<std::vector<double>> raw;         // [layer][head]: summed |dL/d gate| over examples
  std::vector<std::vector<double>> normalized;  // each layer's row divided by its l2 norm (as the paper)
  int64_t examples = 0;
};

// I_h = sum over examples x of |dL(x)/d xi_h|, where xi_h would gate head h's output (1: kept),
// L the task's loss on the labels. No gates are added: at xi = 1, dL/dxi_h equals
// sum_ij A_ij dL/dA_ij over the head's attention probabilities A (its output is xi A V), which
// the attention captures record with their gradients. Class-weighted losses weigh each example
// as the loss does. The plan's batches are taken in order until `max_examples` records (0: all).
HeadImportance head_importance(nn::Model& model, const train::Task& task, const train::Dataset& data,
                               const train::BatchPlan& plan, int64_t max_examples);

// The heads to remove for `fraction` of all heads (rounded down): lowest normalised importance
// first, skipping a head that would leave its layer empty (every layer keeps one). [layer][head],
// true = remove. A larger fraction removes a superset of a smaller one's heads.
std::vector<std::vector<bool>> heads_to_prune(const HeadImportance& importance, double fraction);

// Makes the marked heads contribute nothing, as removing them would: the value rows (and value
// bias) each one reads in its layer's packed projection become 0, so its output A V is 0. Layers
// are the model's attention modules in module order, which must be the importance's layers (an
// error otherwise). The model must be f32 (not quantised).
void mask_heads(nn::Module& model, const std::vector<std::vector<bool>>& pruned);

}  // namespace heed::compress
