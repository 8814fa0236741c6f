// How much each input token matters to a prediction, from one sample's attention. Every function
// takes per-layer tensors [H, T, T] (heads, queries, keys; the batch row already chosen) and
// returns a [T, T] matrix whose row i says how much token i's output draws on each input token.
//   raw:                 the head mean of one layer's probabilities;
//   rollout:             Abnar & Zuidema (2020): A' = 0.5 mean_h(A) + 0.5 I, rows renormalised,
//                        R = A'_L ... A'_1 (the residual stream modelled as half the flow);
//   gradient_rollout:    Chefer, Gur & Wolf (2021, "Generic Attention-model Explainability"):
//                        Abar = mean_h((dS/dA * A)^+), R = I, then R <- R + Abar R per layer,
//                        first to last; class-specific through the gradients of score S.
#pragma once

#include <vector>

#include "heed/core/tensor.h"

namespace heed::interpret {

Tensor head_mean(const Tensor& attention);                   // [H, T, T] -> [T, T]
Tensor rollout(const std::vector<Tensor>& attention);        // layers [H, T, T] -> [T, T]
Tensor gradient_rollout(const std::vector<Tensor>& attention,
                        const std::vector<Tensor>& gradients);  // same shapes -> [T, T]

// Row `token` of a [T, T] relevance matrix without its own column `skip` (e.g. the class token's
// relevance to the patches): T - 1 values, or T when skip < 0.
std::vector<float> relevance_row(const Tensor& relevance, int64_t token, int64_t skip);

}  // namespace heed::interpret
