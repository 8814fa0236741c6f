#include "heed/compress/quantize.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "heed/compress/calibrate.h"
#include "heed/compress/checkpoint_transform.h"
#include "heed/core/error.h"
#include "heed/tasks/registry.h"

namespace heed::compress {

bool is_quantized(const train::Checkpoint& checkpoint) {
  return checkpoint.meta.extra.count(kQuantizationKey) > 0;
}

QuantizeResult quantize_checkpoint(const train::Checkpoint& ckpt, const std::string& out, const QuantizeOptions& o) {
  HEED_CHECK(!is_quantized(ckpt), ckpt.path, ": already quantised (metadata '", kQuantizationKey,
             "'); quantise the f32 checkpoint it was made from");
  HEED_CHECK(o.calibration_samples > 0, "quantize: the calibration sample count must be > 0, got ",
             o.calibration_samples);
  HEED_CHECK(o.dtype == "int8" || o.dtype == "bf16", "quantize: --dtype must be int8 or bf16, got '", o.dtype, "'");
  HEED_CHECK(o.dtype == "int8" || o.calibrate.empty(), "quantize: --calibrate sets int8 activation ranges; a bf16 "
             "checkpoint has none");
  // The model is loaded once: alone, or with its calibration data (which fails here, before any
  // work, on data that does not fit).
  std::unique_ptr<nn::Module> model;
  tasks::PruneSubject calibration;
  if (o.calibrate.empty()) {
    model = load_for_transform(ckpt, out, o.overwrite, "quantised");
  } else {
    check_transform(ckpt, out, o.overwrite, "quantised");
    const tasks::TaskEntry& entry = tasks::find_task(ckpt.meta.task);
    HEED_CHECK(entry.prune_subject, "quantize: --calibrate reads data for classifiers (image-classification, "
               "text-classification); ", ckpt.path, " is a ", entry.name, " checkpoint: quantise it without");
    calibration = entry.prune_subject(ckpt, o.calibrate, "train");
  }
  nn::Module& target = calibration.model ? *calibration.model : *model;
  QuantizeResult result;
  result.layers = o.dtype == "bf16" ? target.convert_bf16() : target.quantize_int8();
  HEED_CHECK(!result.layers.empty(), ckpt.path, ": the model has no layers with an int8 form");
  if (calibration.model) {
    const CalibrationResult c =
        calibrate_int8(*calibration.model, *calibration.data, *calibration.plan, o.calibration_samples);
    result.calibrated = c.layers;
    result.calibration_records = c.records;
  }
  const std::set<std::string> narrow(result.layers.begin(), result.layers.end());
  for (auto& [name, var] : target.named_parameters())
    (narrow.count(name) ? result.narrow_values : result.f32_values) += var->value().numel();

  train::CheckpointMeta meta = ckpt.meta;
  if (o.dtype == "bf16") {
    meta.extra[kQuantizationKey] = nlohmann::json{
        {"scheme", "bf16"},
        {"weights", "bf16, rounded to nearest even"},
        {"activations", "bf16 GEMM inputs with f32 accumulation (--dtype bf16 of the f32 checkpoint)"},
        {"layers", result.layers}}.dump();
    train::write_checkpoint(out, target, meta, {});
    return result;
  }
  nlohmann::json q{{"scheme", "int8"},
                   {"weights", "int8, symmetric, one scale per output channel"},
                   {"activations", "int8, symmetric, one scale per row, computed at run time"},
                   {"layers", result.layers}};
  if (!o.calibrate.empty()) {
    q["activations"] = "int8, symmetric, one scale per layer from the largest |input| on the calibration data "
                       "(N_input_range); layers the calibration did not reach: per row at run time";
    q["calibration"] = {{"data", o.calibrate}, {"records", result.calibration_records},
                        {"layers", result.calibrated}};
  }
  meta.extra[kQuantizationKey] = q.dump();
  // No optimiser state: a quantised checkpoint is for inference (resuming needs the f32 one).
  train::write_checkpoint(out, target, meta, {});
  return result;
}

}  // namespace heed::compress
