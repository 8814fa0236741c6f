#include "heed/tasks/registry.h"

#include "heed/core/error.h"
#include "heed/tasks/image_classification.h"
#include "heed/tasks/masked_lm.h"
#include "heed/tasks/text_classification.h"

namespace heed::tasks {

namespace {
const std::vector<const TaskEntry*>& entries() {
  static const std::vector<const TaskEntry*> all = {&image_classification_entry(), &text_classification_entry(),
                                                    &masked_lm_entry()};
  return all;
}
}  // namespace

const TaskEntry& find_task(const std::string& name) {
  for (const TaskEntry* e : entries())
    if (name == e->name) return *e;
  std::string known;
  for (const std::string& n : task_names()) known += (known.empty() ? "" : ", ") + n;
  detail::fail("unknown task '", name, "' (heed knows: ", known, ")");
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
