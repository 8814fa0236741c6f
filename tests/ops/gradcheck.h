// The one gradient checker every op must pass.
//
// For inputs x_i and an op y = f(x), it compares the autograd gradient of the scalar
// L = <y, r> (r a fixed random projection) with central differences of L computed in double.
// Before backward each input gradient is pre-filled with a random sentinel S; the analytic
// gradient is read as (grad - S), so an op that overwrites instead of accumulating, or that
// leaves a gradient unwritten, fails.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "heed/autograd/variable.h"

namespace heed::testing {

struct GradCheckOptions {
  double eps = 3e-3;   // central-difference step
  double atol = 2e-3;  // |analytic - numeric| <= atol + rtol * |numeric|
  double rtol = 2e-2;
  uint64_t seed = 1234;
};

using OpFn = std::function<Var(const std::vector<Var>&)>;

// Returns an empty string on success, otherwise a report with the worst element per input.
std::string check_gradients(const OpFn& op, const std::vector<Tensor>& inputs,
                            const std::vector<bool>& differentiable,
                            const GradCheckOptions& options = {});

}  // namespace heed::testing
