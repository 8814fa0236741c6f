// Cross-entropy from logits [rows, classes] and class indices [rows], PyTorch semantics:
//   loss_i = (1 - s) * (lse_i - x_i[t_i]) + s * (lse_i - mean_c x_i[c]),  s = label smoothing,
// averaged over rows whose target is not `ignore_index`. With class weights w (PyTorch's
// `weight`, nullptr for none):
//   loss_i = (1 - s) w[t_i] (lse_i - x_i[t_i]) + (s / C) sum_c w[c] (lse_i - x_i[c]),
// summed over the counted rows and divided by sum_i w[t_i]. The caller validates targets and
// weights.
#pragma once

#include <cstdint>

namespace heed::kernels {

// Returns the mean loss; writes lse[rows] for the backward. Returns 0 when every row is ignored.
float cross_entropy_forward(const float* logits, const int64_t* targets, float* lse, int64_t rows,
                            int64_t classes, int64_t ignore_index, float smoothing,
                            const float* class_weight = nullptr);

// dlogits += g / count * (softmax - (1 - s) onehot - s / C) on rows that count; weighted:
// dlogits += g / W * ((1 - s) w[t] (softmax - onehot) + (s / C) (softmax sum_c w[c] - w)).
void cross_entropy_backward(const float* logits, const int64_t* targets, const float* lse, float g,
                            float* dlogits, int64_t rows, int64_t classes, int64_t ignore_index,
                            float smoothing, const float* class_weight = nullptr);

}  // namespace heed::kernels
