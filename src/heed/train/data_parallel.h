// Data parallelism across the threads of one process, for any model and task.
//
// The batch is cut into one contiguous row slice per replica; each replica (a copy of the model
// made by Model::replicate, sharing its parameter values) runs the forward and backward of its
// slice with single-threaded ops, and the replicas' gradients are added into the model's in
// replica order.
//
// Why: at the sizes of small models (a 128-image batch of 17 tokens, width 64) each op is a few
// tens of microseconds, and a step has ~300 of them; parallelising inside every op means waking
// the other core ~300 times per step, which with passive OpenMP waits (apps/heed/main.cpp)
// costs about as much as the work saved (2 threads ran 1.3-1.4x faster than 1). One parallel
// region per step instead keeps both cores busy (docs/benchmarks.md has the measured figures).
//
// Results are bit-identical for a given replica count, whatever the thread count. Dropout and
// drop-path seeds come from per-replica streams derived from one global draw per step.
#pragma once

#include <memory>
#include <vector>

#include "heed/nn/model.h"
#include "heed/train/task.h"

namespace heed::train {

class DataParallel {
 public:
  // `replicas` <= 1 runs the model directly, with parallelism inside each op. More replicas
  // than threads is allowed (threads then run several in turn).
  DataParallel(nn::Model& model, int replicas);

  // The task's mean loss over the batch, as one forward over all of it would give; its
  // gradient is ADDED into the model's parameter gradients. Returns the loss.
  float train_step(const nn::Batch& batch, const Task& task);

  // The model's output over the batch (logits concatenated; attention maps when asked for),
  // without gradients, in the model's current train/eval mode.
  nn::ModelOutput predict(const nn::Batch& batch, const nn::ForwardOptions& options = {});

  int replicas() const { return int(extra_.size()) + 1; }

 private:
  // Rows [begin, end) of the batch for each replica that gets any.
  std::vector<std::pair<int64_t, int64_t>> slices(int64_t batch) const;
  // Points every replica's parameters at the model's current values, with fresh gradients.
  void link_parameters();
  nn::Model& replica(size_t k) { return k == 0 ? model_ : *extra_[k - 1]; }

  nn::Model& model_;
  std::vector<std::unique_ptr<nn::Model>> extra_;  // replicas 1..n-1; 0 is model_
};

}  // namespace heed::train
