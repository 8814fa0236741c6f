// Calibration of static int8 activation ranges (heed quantize --calibrate, docs/compression.md):
// while an Int8Calibration is alive, every int8 linear layer that runs records the largest |x|
// of its inputs, as PyTorch's MinMaxObserver does for static quantisation.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace heed {

struct Int8Matrix;

class Int8Calibration {
 public:
  Int8Calibration();  // starts recording; one at a time (an error otherwise)
  ~Int8Calibration();
  Int8Calibration(const Int8Calibration&) = delete;
  Int8Calibration& operator=(const Int8Calibration&) = delete;

  // The largest |x| seen at the inputs of `w`'s layer (replicas share their int8 forms, so
  // theirs count too); 0 if it never ran.
  float input_range(const Int8Matrix& w) const;

  // Called by linear_int8 with a layer's input; does nothing unless a calibration is alive.
  static void record(const Int8Matrix& w, const float* x, int64_t n);

 private:
  mutable std::mutex mutex_;
  std::unordered_map<const Int8Matrix*, float> ranges_;
};

}  // namespace heed
