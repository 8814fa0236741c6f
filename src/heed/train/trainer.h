// The one training loop, for every task: learning-rate schedule, gradient clipping,
// data-parallel replicas, a progress bar with the epoch's and the run's ETA, JSONL metrics,
// best/last checkpoints, exact resume, Ctrl-C, a stop at a non-finite loss. It knows a model,
// a task and datasets only through train/task.h and nn/model.h: nothing of images or text.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "heed/nn/model.h"
#include "heed/train/batch_loader.h"
#include "heed/train/checkpoint.h"
#include "heed/train/options.h"
#include "heed/train/run_directory.h"
#include "heed/train/task.h"

namespace heed::train {

struct TrainSetup {
  TrainOptions options;
  nn::Model* model = nullptr;  // built and initialised by the task (same seed: same weights)
  const Task* task = nullptr;
  const Dataset* train_data = nullptr;
  const BatchPlan* train_plan = nullptr;      // the training batches of an epoch
  const Dataset* validation_data = nullptr;
  const BatchPlan* validation_plan = nullptr; // evaluated after every epoch
  // What every checkpoint carries besides the trainer's state: task, model type, the resolved
  // config, the task's extras.
  CheckpointMeta meta;
  // The result-relevant part of a config (ConfigWriter with result_only): a resume compares the
  // stored config's view with the current one's.
  std::function<nlohmann::json(const nlohmann::json& config)> resume_view;
  std::string out_dir;
  bool resume = false;
  std::string summary;  // the first log line ("ViT: 305034 parameters, ...")
};

struct TrainResult {
  bool has_best = false;
  double best_metric = 0, seconds = 0;
  int64_t epochs_done = 0;
  bool interrupted = false;  // by `signal` (SIGINT or SIGTERM): last was saved at the exact step
  int signal = 0;
  std::string best_path, last_path;
};

// Trains: <out_dir>/{last,best}.safetensors and <out_dir>/metrics.jsonl. With `resume`,
// continues from <out_dir>/last.safetensors exactly where it stopped; without, refuses a
// directory that holds a run (unless the caller claimed it already, e.g. with
// RunMode::Overwrite: train/run_directory.h). SIGINT and SIGTERM save last at the exact step and
// return with `interrupted`.
TrainResult fit(TrainSetup& setup);

// Evaluates `model` on the plan's batches of `data` (in eval mode, without gradients) over
// `replicas` model replicas (0: one per thread).
EvalResult evaluate(nn::Model& model, const Task& task, const Dataset& data, const BatchPlan& plan,
                    int replicas = 0);

// A description of how two configs' result-relevant views differ ("train.lr: 0.001 -> 0.002"),
// for the message of a refused resume.
std::string config_differences(const nlohmann::json& stored, const nlohmann::json& current);

}  // namespace heed::train
