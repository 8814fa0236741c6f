// heed quantize: post-training int8 quantisation of any task's checkpoint. Every Linear layer
// and attention projection gets int8 weights (symmetric, per output channel); activations are
// quantised per row at run time (dynamic, as PyTorch's quantize_dynamic). Embeddings, norms and
// biases stay f32. The result is an ordinary checkpoint (docs/checkpoint-format.md) that eval,
// predict and bench load like any other. docs/compression.md.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/train/checkpoint.h"

namespace heed::compress {

// The metadata key that marks a quantised checkpoint (JSON: scheme, weights, activations, layers).
inline constexpr const char* kQuantizationKey = "quantization";

struct QuantizeResult {
  std::vector<std::string> layers;  // the quantised parameters
  int64_t int8_values = 0, f32_values = 0;  // parameters now stored in int8 / still in f32
};

// Writes `out` (atomically; an existing file only with `overwrite`). Errors name the checkpoint:
// already quantised, a task without a model loader, nothing to quantise.
QuantizeResult quantize_checkpoint(const train::Checkpoint& checkpoint, const std::string& out,
                                   bool overwrite = false);

// Whether a checkpoint's metadata marks it quantised.
bool is_quantized(const train::Checkpoint& checkpoint);

}  // namespace heed::compress
