// What a training run will ask of the machine, checked before the first step: memory (weights,
// gradients, optimiser moments and activations against what the machine has available).
#pragma once

#include <cstdint>
#include <string>

namespace heed::train {

struct TrainingFootprint {
  int64_t parameters = 0;         // the model's, from its config
  int64_t activation_floats = 0;  // kept for backward by one step over the whole batch
  int replicas = 1;               // data-parallel replicas (each has its own weights and gradients)
};

// Estimated peak bytes of training: per replica weights and gradients, once AdamW's two moments,
// and the activations of one batch (split over the replicas, so counted once).
uint64_t estimated_training_bytes(const TrainingFootprint& footprint);

// MemAvailable from /proc/meminfo (what can be allocated without swapping), else physical memory.
uint64_t available_memory_bytes();

// Throws heed::Error with the estimate when it exceeds the available memory: `what` names the
// config keys that set the size (e.g. "model.dim, model.depth, train.batch_size").
void check_training_memory(const TrainingFootprint& footprint, const std::string& what);

}  // namespace heed::train
