#include "heed/compress/quantize.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "heed/compress/checkpoint_transform.h"
#include "heed/core/error.h"
#include "heed/tasks/registry.h"

namespace heed::compress {

bool is_quantized(const train::Checkpoint& checkpoint) {
  return checkpoint.meta.extra.count(kQuantizationKey) > 0;
}

QuantizeResult quantize_checkpoint(const train::Checkpoint& ckpt, const std::string& out, bool overwrite) {
  HEED_CHECK(!is_quantized(ckpt), ckpt.path, ": already quantised (metadata '", kQuantizationKey,
             "'); quantise the f32 checkpoint it was made from");
  std::unique_ptr<nn::Module> model = load_for_transform(ckpt, out, overwrite, "quantised");
  QuantizeResult result;
  result.layers = model->quantize_int8();
  HEED_CHECK(!result.layers.empty(), ckpt.path, ": the model has no layers with an int8 form");
  const std::set<std::string> int8(result.layers.begin(), result.layers.end());
  for (auto& [name, var] : model->named_parameters())
    (int8.count(name) ? result.int8_values : result.f32_values) += var->value().numel();

  train::CheckpointMeta meta = ckpt.meta;
  meta.extra[kQuantizationKey] = nlohmann::json{
      {"scheme", "int8"},
      {"weights", "int8, symmetric, one scale per output channel"},
      {"activations", "int8, symmetric, one scale per row, computed at run time"},
      {"layers", result.layers}}.dump();
  // No optimiser state: a quantised checkpoint is for inference (resuming needs the f32 one).
  train::write_checkpoint(out, *model, meta, {});
  return result;
}

}  // namespace heed::compress
