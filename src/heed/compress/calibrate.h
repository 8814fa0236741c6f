// Calibrating static int8 activation ranges (heed quantize --calibrate, docs/compression.md).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/nn/model.h"
#include "heed/train/trainer.h"

namespace heed::compress {

struct CalibrationResult {
  std::vector<std::string> layers;  // the int8 layers that now have a static range
  int64_t records = 0;              // records the model ran on
};

// Runs the quantised `model` (eval mode, no gradients) over the first `max_records` records of
// `data` in `plan`'s first epoch (all when fewer), recording the largest |x| at each int8 layer's
// input (ops/int8_calibration.h), then gives each layer that ran that range
// (nn::Module::calibrate_int8). The ranges come from the int8 model itself, so later layers see
// the inputs the deployed model gives them.
CalibrationResult calibrate_int8(nn::Model& model, const train::Dataset& data, const train::BatchPlan& plan,
                                 int64_t max_records);

}  // namespace heed::compress
