// The tasks heed knows, by the name a config's "task" key and a checkpoint's "task" metadata
// use. `heed train`, `eval` and `predict` look the task up here and hand over; each task prints
// its own results. Adding a task: a file in src/heed/tasks/ with its entry, listed in
// registry.cpp (docs/adding-a-task.md).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/train/checkpoint.h"

namespace heed::tasks {

struct TrainCommand {
  nlohmann::json config;    // after --set overrides
  std::string config_path;  // for messages
  std::string data;         // --data, or empty
  std::string out;          // output directory
  bool resume = false;
};

struct EvalCommand {
  train::Checkpoint checkpoint;
  std::string data;  // --data, or empty: the task's default (e.g. the trained-on data)
  std::string split;  // --split, or empty
  bool json = false;
};

struct PredictCommand {
  train::Checkpoint checkpoint;
  std::string input;  // --input FILE, or empty
  std::string text;   // --text, or empty
  int64_t top_k = 3;
  bool json = false;
};

struct TaskEntry {
  const char* name;
  const char* summary;  // one line for `heed train --help`
  void (*train)(const TrainCommand&);
  void (*eval)(const EvalCommand&);
  void (*predict)(const PredictCommand&);
};

// The entry of `name`; a heed::Error naming the known tasks otherwise.
const TaskEntry& find_task(const std::string& name);
std::vector<std::string> task_names();
// The task of a config: its "task" key, "image-classification" when absent (configs written
// before there was more than one task).
std::string config_task(const nlohmann::json& config);

}  // namespace heed::tasks
