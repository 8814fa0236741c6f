// heed quantize: post-training int8 quantisation of any task's checkpoint. Every Linear layer
// and attention projection gets int8 weights (symmetric, per output channel); activations are
// quantised per row at run time (dynamic, as PyTorch's quantize_dynamic), or, calibrated on
// data, over each layer's fixed range (static). Embeddings, norms and
// biases stay f32. The result is an ordinary checkpoint (docs/checkpoint-format.md) that eval,
// predict and bench load like any other. docs/compression.md.
// With dtype "bf16" the same layers' weights are stored as BF16 instead (half the bytes), and
// the checkpoint runs in bf16 wherever it is loaded (train::load_for_inference).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/train/checkpoint.h"

namespace heed::compress {

// The metadata key that marks a quantised checkpoint (JSON: scheme, weights, activations, layers).
inline constexpr const char* kQuantizationKey = train::kQuantizationKey;

struct QuantizeOptions {
  std::string dtype = "int8";  // int8 | bf16
  bool overwrite = false;  // replace an existing `out`
  // Static activation ranges (heed quantize --calibrate DATA): the quantised model runs over up
  // to `calibration_samples` records of this data (images: an IDX directory's train split; text:
  // a labelled file, as eval reads it) and each int8 layer keeps the largest |input| it saw
  // (compress/calibrate.h). Empty: dynamic, per row at run time.
  std::string calibrate;
  int64_t calibration_samples = 512;
};

struct QuantizeResult {
  std::vector<std::string> layers;  // the quantised parameters
  std::vector<std::string> calibrated;  // the layers given static ranges (with --calibrate)
  int64_t calibration_records = 0;      // records the calibration ran on
  int64_t narrow_values = 0, f32_values = 0;  // parameters now stored in int8 (or bf16) / still in f32
};

// Writes `out` (atomically; an existing file only with `overwrite`). Errors name the checkpoint:
// already quantised, a task without a model loader, nothing to quantise; with a calibration set,
// a task that cannot read one, or data that does not fit the model (its loader's errors).
QuantizeResult quantize_checkpoint(const train::Checkpoint& checkpoint, const std::string& out,
                                   const QuantizeOptions& options = {});

// Whether a checkpoint's metadata marks it quantised.
bool is_quantized(const train::Checkpoint& checkpoint);

}  // namespace heed::compress
