// The trainer's view of an application: a Dataset that makes batches, a Task that turns a
// model's output into a loss and its evaluation into a report. The trainer (train/trainer.h)
// runs the same loop for every pair; src/heed/tasks/ holds one file per application
// (docs/adding-a-task.md).
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/nn/model.h"

namespace heed::train {

// Where a batch is being made: augmentation and masking may depend on these, and only on these.
struct BatchContext {
  int64_t epoch = 0;
  uint64_t seed = 0;
  bool training = false;  // augment / mask (training) or not (evaluation, prediction)
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual int64_t size() const = 0;
  // The batch of these sample indices, in this order: a pure function of (indices, context), so
  // a resumed run rebuilds exactly the batches it would have seen. Called on the loader's
  // background thread: it must not change the dataset.
  virtual nn::Batch batch(const std::vector<int64_t>& indices, const BatchContext& context) const = 0;
  // A sample's cost in tokens, for length-bucketed batching; 1 where every sample costs the same.
  virtual int64_t length(int64_t /*index*/) const { return 1; }
};

// The evaluation of one split, as every task reports it.
struct EvalResult {
  double loss = 0;            // mean loss per counted target
  double metric = 0;          // the model-selection metric (best.safetensors keeps its best)
  nlohmann::json json;        // what `heed eval --json` prints
  std::string text;           // what `heed eval` prints
  std::vector<int64_t> predictions;  // a classifier's predicted class per sample, in plan order
};

// Accumulates a split's outputs batch by batch.
class Evaluator {
 public:
  virtual ~Evaluator() = default;
  virtual void add(const nn::ModelOutput& output, const nn::Batch& batch) = 0;
  virtual EvalResult finish() = 0;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual std::string name() const = 0;         // the config's and checkpoint's "task"
  virtual std::string metric_name() const = 0;  // "accuracy", "spam_f1", "loss", ...
  virtual bool higher_is_better() const { return true; }
  // The total weight of the targets a batch counts: their number (rows with a label, masked
  // tokens), or their summed class weights when the loss is weighted. Replicas weigh their share
  // of a batch's mean loss by it.
  virtual double target_weight(const nn::Batch& batch) const = 0;
  // The mean loss over the batch's counted targets (0 when it has none).
  virtual Var loss(const nn::ModelOutput& output, const nn::Batch& batch) const = 0;
  virtual std::unique_ptr<Evaluator> evaluator() const = 0;
};

}  // namespace heed::train
