// Physically removing attention heads (`heed prune --heads F --out P`, docs/compression.md): the
// pruned model has smaller QKV and output projections, so it is smaller and faster, not only
// masked. Layers may end with different head counts (the config's model.layer_heads).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "heed/train/checkpoint.h"

namespace heed::compress {

struct RemovedHeads {
  std::vector<int64_t> layer_heads;  // heads kept per attention layer
  int64_t removed = 0;
  int64_t parameters_before = 0, parameters_after = 0;
};

// Writes `out` (atomically; an existing file only with `overwrite`, never the input): the
// checkpoint's model without the heads marked in `pruned` ([layer][head], true = remove; layers
// in module order): their q, k and v rows of each packed projection (and bias) and their columns
// of the output projection go, and model.layer_heads records what each layer keeps. Every other
// tensor and all metadata (tokenizer, normalisation, ...) stay as they were; no optimiser state.
// With nothing marked the model computes exactly what it did. Errors name the checkpoint: a
// quantised one, a task without a model loader, a layer left without heads, a wrong layer count.
RemovedHeads remove_heads(const train::Checkpoint& checkpoint, const std::vector<std::vector<bool>>& pruned,
                          const std::string& out, bool overwrite = false);

}  // namespace heed::compress
