// An exponential moving average of a model's parameters (Polyak averaging: timm's ModelEma,
// Marian's --exponential-smoothing, TensorFlow's ExponentialMovingAverage). Evaluating and
// shipping the average instead of the last step's weights smooths out the noise of the last
// steps; on small sets, where a model fits its training data in a few epochs, that noise decides
// which epoch's checkpoint looks best.
//
// After optimiser step t (1-based): avg += (1 - d_t) (p - avg), with TensorFlow's warm-up
// d_t = min(decay, (1 + t) / (10 + t)), so the first steps' random initialisation does not
// linger in the average for thousands of steps.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "heed/optim/optimizer.h"

namespace heed::optim {

class ParameterAverage {
 public:
  // The averages start as copies of the parameters' current values. decay in (0, 1).
  ParameterAverage(std::vector<Param> params, double decay);

  static double decay_at(double decay, int64_t step);
  // Moves every average towards its parameter's value after optimiser step `step` (1-based).
  void update(int64_t step);
  // Exchanges the parameters' values with the averages, element by element (so model replicas
  // that share the values' storage see the change). Twice is the identity.
  void swap();

  // The averages as "<prefix>.<param name>" (the live tensors, no copy); after swap() they hold
  // what the parameters held.
  std::vector<std::pair<std::string, Tensor>> state(const std::string& prefix) const;
  // Copies "<prefix>.<param name>" of `named` into the averages; every one must be present,
  // f32, finite and shaped like its parameter (errors name the key). Other keys are ignored.
  void load_state(const std::map<std::string, Tensor>& named, const std::string& prefix);

 private:
  std::vector<Param> params_;
  std::vector<Tensor> average_;  // one per parameter
  double decay_;
};

}  // namespace heed::optim
