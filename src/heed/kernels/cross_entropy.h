// Cross-entropy from logits [rows, classes] and class indices [rows], PyTorch semantics:
//   loss_i = (1 - s) * (lse_i - x_i[t_i]) + s * (lse_i - mean_c x_i[c]),  s = label smoothing,
// averaged over rows whose target is not `ignore_index`. The caller validates targets.
#pragma once

#include <cstdint>

namespace heed::kernels {

// Returns the mean loss; writes lse[rows] for the backward. Returns 0 when every row is ignored.
float cross_entropy_forward(const float* logits, const int64_t* targets, float* lse, int64_t rows,
                            int64_t classes, int64_t ignore_index, float smoothing);

// dlogits += g / count * (softmax - (1 - s) onehot - s / C) on rows that count.
void cross_entropy_backward(const float* logits, const int64_t* targets, const float* lse, float g,
                            float* dlogits, int64_t rows, int64_t classes, int64_t ignore_index,
                            float smoothing);

}  // namespace heed::kernels
