// The tasks heed knows, by the name a config's "task" key and a checkpoint's "task" metadata
// use. `heed train`, `eval` and `predict` look the task up here and hand over; each task prints
// its own results. Adding a task: a file in src/heed/tasks/ with its entry, listed in
// registry.cpp (docs/adding-a-task.md).
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/core/error.h"
#include "heed/train/batch_loader.h"
#include "heed/train/checkpoint.h"
#include "heed/train/run_directory.h"
#include "heed/train/task.h"

namespace heed::tasks {

struct TrainCommand {
  nlohmann::json config;       // after --set overrides
  nlohmann::json file_config;  // before them (to tell a bad file from a bad --set)
  std::vector<std::string> overrides;  // the --set arguments
  std::string config_path;  // for messages
  std::string data;         // --data, or empty
  std::string out;          // output directory (claimed by the CLI: train/run_directory.h)
  bool resume = false, overwrite = false;
};

// Claims the command's output directory (train/run_directory.h) for the run: after the config
// parsed, before any data is read. Says where --overwrite moved a previous run.
std::shared_ptr<train::RunDirectory> claim_run_directory(const TrainCommand& cmd);

// Parses the command's config with a task's `parse(json)` before any work. The error names the
// config file, or the --set overrides when the file alone parses.
template <class Parse>
auto parse_train_config(const TrainCommand& cmd, Parse&& parse) -> decltype(parse(cmd.config)) {
  try {
    return parse(cmd.config);
  } catch (const Error& e) {
    bool file_parses = false;
    if (!cmd.overrides.empty()) try {
        parse(cmd.file_config);
        file_parses = true;
      } catch (const Error&) {
      }
    if (!file_parses) detail::fail(cmd.config_path, ": ", e.what());
    std::string sets;
    for (const std::string& o : cmd.overrides) sets += (sets.empty() ? "--set " : ", --set ") + o;
    detail::fail(sets, ": ", e.what());
  }
}

struct EvalCommand {
  train::Checkpoint checkpoint;
  // Further --checkpoint files: evaluate the ensemble that averages the class probabilities of
  // all of them (only for entries with `averages_checkpoints`).
  std::vector<train::Checkpoint> more;
  std::string data;  // --data, or empty: the task's default (e.g. the trained-on data)
  std::string split;  // --split, or empty
  bool json = false;
  int64_t beam = 0;             // --beam (entries with `decodes`): beam search of this size; 0: greedy
  double length_penalty = 1.0;  // --length-penalty, with --beam
};

struct PredictCommand {
  train::Checkpoint checkpoint;
  std::string input;  // --input FILE, or empty
  std::string text;   // --text, or empty
  int64_t top_k = 3;
  bool json = false;
};

struct ExplainCommand {
  train::Checkpoint checkpoint;
  std::string input;  // --input FILE (an image; IDX: the record at `index`)
  std::string text;   // --text
  std::string out;    // the directory to write (interpret/explanation_files.h)
  int64_t index = 0;
  int64_t cls = -1, layer = -1, head = -1;  // interpret::ExplainOptions
  // --evaluate: the deletion test over `samples` inputs of `data` instead (interpret/faithfulness.h).
  bool evaluate = false;
  std::string data;
  int64_t samples = 1000;
};

// What `heed prune` measures a checkpoint's heads on: its model with the weights loaded, the
// task's loss and evaluation, and the records of one data set as its eval reads them.
struct PruneSubject {
  std::unique_ptr<nn::Model> model;
  std::unique_ptr<train::Task> task;
  std::unique_ptr<train::Dataset> data;
  std::unique_ptr<train::BatchPlan> plan;  // every record, in order, in the task's eval batches
  std::shared_ptr<void> owned;             // whatever the above refer to (a tokenizer, ...)
};

// heed prune's data for a task that reads one file per split: `data` when given, else
// `train_path` for "train" and `held_out()` (eval's default file) for "test"; another split is an
// error naming `task`'s two (`held_out_name`, e.g. "data.test, else data.validation").
std::string prune_data_path(const std::string& data, const std::string& split, const std::string& train_path,
                            const std::function<std::string()>& held_out, const char* task, const char* held_out_name);

// A PruneSubject of these parts.
template <class Data, class Plan>
PruneSubject prune_subject_of(std::unique_ptr<nn::Model> model, std::unique_ptr<train::Task> task,
                              std::unique_ptr<Data> data, Plan plan) {
  PruneSubject s;
  s.plan = std::make_unique<Plan>(std::move(plan));
  s.data = std::move(data);
  s.task = std::move(task);
  s.model = std::move(model);
  return s;
}

struct TaskEntry {
  const char* name;
  const char* summary;  // one line for `heed train --help`
  int (*train)(const TrainCommand&);  // the exit status: 0, or 128 + the signal that stopped it
  void (*eval)(const EvalCommand&);
  void (*predict)(const PredictCommand&);
  void (*explain)(const ExplainCommand&);  // null: the task's models cannot be explained
  bool averages_checkpoints = false;        // eval takes several checkpoints (EvalCommand::more)
  bool decodes = false;                     // eval generates text and takes --beam (EvalCommand::beam)
  // The checkpoint's model with its weights, as its own commands load it: what `heed quantize`
  // transforms. Errors name the checkpoint.
  std::unique_ptr<nn::Module> (*load_module)(const train::Checkpoint&) = nullptr;
  // The checkpoint measured on `data` (a path as eval's --data; empty: the task's default for
  // `split`) and `split` ("train" or "test", as the task names its splits). Null: heed prune
  // does not take the task's checkpoints.
  PruneSubject (*prune_subject)(const train::Checkpoint&, const std::string& data, const std::string& split) =
      nullptr;
};

// The entry of `name`; a heed::Error naming the known tasks otherwise.
const TaskEntry& find_task(const std::string& name);
std::vector<std::string> task_names();
// The task of a config: its "task" key, "image-classification" when absent (configs written
// before there was more than one task).
std::string config_task(const nlohmann::json& config);

}  // namespace heed::tasks
