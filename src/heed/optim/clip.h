// Gradient clipping by global norm, as torch.nn.utils.clip_grad_norm_ (norm_type 2).
#pragma once

#include <vector>

#include "heed/optim/optimizer.h"

namespace heed::optim {

// Computes the L2 norm of all defined gradients together (as if concatenated; summed in double)
// and, when max_norm / (norm + 1e-6) < 1, multiplies every gradient by that coefficient.
// Returns the norm before clipping. Parameters without a gradient are ignored (norm 0 if none).
// max_norm must be > 0; +inf only measures.
// A non-finite norm (a NaN or inf gradient) leaves the gradients unchanged, where PyTorch would
// scale them by NaN or 0: the caller should check the result and skip the step.
float clip_grad_norm(const std::vector<Param>& params, float max_norm);

}  // namespace heed::optim
