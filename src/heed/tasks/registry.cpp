#include "heed/tasks/registry.h"

#include <cstdio>
#include <filesystem>

#include "heed/core/error.h"
#include "heed/tasks/causal_lm.h"
#include "heed/tasks/image_classification.h"
#include "heed/tasks/masked_lm.h"
#include "heed/tasks/seq2seq.h"
#include "heed/tasks/sequential_recommendation.h"
#include "heed/tasks/text_classification.h"

namespace heed::tasks {

namespace {
const std::vector<const TaskEntry*>& entries() {
  static const std::vector<const TaskEntry*> all = {&image_classification_entry(), &text_classification_entry(),
                                                    &masked_lm_entry(), &sequential_recommendation_entry(),
                                                    &causal_lm_entry(), &seq2seq_entry()};
  return all;
}
}  // namespace

std::shared_ptr<train::RunDirectory> claim_run_directory(const TrainCommand& cmd) {
  const train::RunMode mode = cmd.resume      ? train::RunMode::Resume
                              : cmd.overwrite ? train::RunMode::Overwrite
                                              : train::RunMode::Fresh;
  std::shared_ptr<train::RunDirectory> run = train::RunDirectory::claim(cmd.out, mode);
  if (!run->moved_to().empty())
    std::fprintf(stderr, "moved the previous run in %s to %s\n", cmd.out.c_str(), run->moved_to().c_str());
  if (cmd.resume)
    HEED_CHECK(std::filesystem::exists(cmd.out + "/last.safetensors"), cmd.out, ": no run to resume (", cmd.out,
               "/last.safetensors does not exist); train without --resume to start one");
  return run;
}

const TaskEntry& find_task(const std::string& name) {
  for (const TaskEntry* e : entries())
    if (name == e->name) return *e;
  std::string known;
  for (const std::string& n : task_names()) known += (known.empty() ? "" : ", ") + n;
  detail::fail("unknown task '", name, "' (heed knows: ", known, ")");
}

std::string prune_data_path(const std::string& data, const std::string& split, const std::string& train_path,
                            const std::function<std::string()>& held_out, const char* task, const char* held_out_name) {
  HEED_CHECK(split.empty() || split == "train" || split == "test", "prune: ", task, "'s splits are train (data.train) "
             "and test (", held_out_name, "), not '", split, "'");
  if (!data.empty()) return data;
  if (split == "train") {
    HEED_CHECK(!train_path.empty(), "prune: no data.train in the checkpoint's config; give --data FILE");
    return train_path;
  }
  return held_out();
}

std::vector<std::string> task_names() {
  std::vector<std::string> out;
  for (const TaskEntry* e : entries()) out.emplace_back(e->name);
  return out;
}

std::string config_task(const nlohmann::json& config) {
  if (!config.is_object() || !config.contains("task")) return kImageClassification;
  HEED_CHECK(config.at("task").is_string(), "config: task must be a string, got ", config.at("task").dump());
  return config.at("task").get<std::string>();
}

}  // namespace heed::tasks
