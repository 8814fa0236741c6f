#include "heed/compress/calibrate.h"

#include "heed/core/error.h"
#include "heed/ops/int8_calibration.h"

namespace heed::compress {

CalibrationResult calibrate_int8(nn::Model& model, const train::Dataset& data, const train::BatchPlan& plan,
                                 int64_t max_records) {
  HEED_CHECK(max_records > 0, "calibration: the record count must be > 0, got ", max_records);
  HEED_CHECK(model.quantized(), "calibration: the model must be quantised first");
  model.eval();
  NoGradGuard no_grad;
  CalibrationResult out;
  Int8Calibration calibration;
  for (std::vector<int64_t> indices : plan.epoch(0)) {
    if (out.records >= max_records) break;
    if (out.records + int64_t(indices.size()) > max_records) indices.resize(size_t(max_records - out.records));
    (void)model.forward(data.batch(indices, {}), {});
    out.records += int64_t(indices.size());
  }
  HEED_CHECK(out.records > 0, "calibration: the data holds no records");
  out.layers = model.calibrate_int8(calibration);
  return out;
}

}  // namespace heed::compress
