// Checkpoints of every task: one safetensors file with the model's parameters (under the
// model's own names), the optimiser state ("optimizer.*") and string metadata (format, task,
// model, config, trainer, plus what a task adds, e.g. its tokenizer). docs/checkpoint-format.md.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "heed/core/tensor.h"
#include "heed/nn/module.h"

namespace heed::train {

inline constexpr const char* kCheckpointFormat = "heed-checkpoint-1";
// The metadata key of a quantised (int8) or bf16 checkpoint: JSON with its "scheme" and layers
// (compress/quantize.h).
inline constexpr const char* kQuantizationKey = "quantization";

// Where training stands: the position of the next step and what resuming needs.
struct TrainerState {
  int64_t epoch = 0, batch = 0;  // 0-based epoch and batch within it of the next step
  int64_t global_step = 0;       // optimiser steps taken
  bool has_best = false;         // whether any epoch has been evaluated
  double best_metric = 0;        // the best validation metric so far (the task says which)
  std::pair<uint64_t, uint64_t> seed_state{0, 0};  // nn::seed_state(): dropout's stream
  // The current epoch's running training loss (sum and count of step losses so far), so that a
  // run resumed mid-epoch still logs the whole epoch's figure. (No clock time: checkpoints of
  // one config and seed are bit-identical.)
  double epoch_loss_sum = 0;
  int64_t epoch_loss_count = 0;
};

struct CheckpointMeta {
  std::string task, model;          // "image-classification", "vit"
  nlohmann::json config;            // the resolved config, as the task writes it
  TrainerState state;
  nlohmann::json trainer_extras = nlohmann::json::object();  // task fields in the "trainer" JSON
  std::map<std::string, std::string> extra;  // further metadata entries (e.g. "tokenizer")
};

// Writes model parameters, optional optimiser state and the metadata, atomically.
void write_checkpoint(const std::string& path, nn::Module& model, const CheckpointMeta& meta,
                      const std::vector<std::pair<std::string, Tensor>>& optimizer_state);

// The precision a command runs a checkpoint's model in (`--dtype`; docs/compression.md): f32, or
// bf16 weights and GEMM inputs with f32 accumulation (nn::Module::convert_bf16).
enum class ComputeDtype { F32, BF16 };
// "f32" or "bf16"; anything else is an error naming `what` (e.g. "--dtype") and the value.
ComputeDtype parse_compute_dtype(const std::string& value, const std::string& what);

struct Checkpoint {
  std::string path;
  CheckpointMeta meta;  // trainer_extras: the "trainer" JSON's other fields; extra: every other key
  std::map<std::string, Tensor> model, optimizer;
  ComputeDtype compute = ComputeDtype::F32;  // not stored: what the command asked for
};

// Whether the checkpoint's weights are stored in bf16 (heed quantize --dtype bf16).
bool stored_bf16(const Checkpoint& checkpoint);

// The checkpoint's weights into `model` (a model of the checkpoint's architecture; errors name
// the checkpoint), the model put in eval mode and converted to the checkpoint's compute dtype
// (bf16 always for a checkpoint stored in bf16: its weights are bf16 values):
// how every task loads a checkpoint for inference.
void load_for_inference(nn::Module& model, const Checkpoint& checkpoint);

// Reads and checks a checkpoint as untrusted input (errors start with the path): the container,
// the format, the JSON of "config" and "trainer", finite f32 values everywhere. The config is
// not interpreted here: the task parses it (tasks/registry.h).
Checkpoint read_checkpoint(const std::string& path);

// The checkpoint's "task" alone (to choose the task that reads the rest); "image-classification"
// for files written before the key existed.
std::string checkpoint_task(const Checkpoint& checkpoint);

}  // namespace heed::train
