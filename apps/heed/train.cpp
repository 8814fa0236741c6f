// heed train: reads the config (and --set overrides), finds its task ("task" key) and hands
// over; the task trains on the one trainer and reports on its test split.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "heed/tasks/registry.h"
#include "heed/train/config_json.h"

namespace heed::cli {

namespace {
struct TrainArgs {
  std::string config, data, out;
  std::vector<std::string> overrides;
  bool resume = false, overwrite = false;
};
}  // namespace

void register_train(CLI::App& app) {
  static TrainArgs a;
  std::string tasks;
  for (const std::string& t : tasks::task_names()) tasks += (tasks.empty() ? "" : ", ") + t;
  auto* cmd = app.add_subcommand("train", "Train a model: the config's \"task\" (" + tasks + ") says which");
  cmd->add_option("--config", a.config, "JSON config (e.g. configs/vit-fashion-mnist.json)")->required();
  cmd->add_option("--data", a.data, "image tasks: directory with train-*/t10k-* IDX files (data.dir)");
  CLI::Option* out_option = cmd->add_option("--out", a.out, "output directory (default: runs/<config name>)");
  cmd->add_option("--set", a.overrides, "override a config value: key=value (e.g. train.epochs=3)");
  auto* resume = cmd->add_flag("--resume", a.resume, "continue the run in --out from its last.safetensors");
  cmd->add_flag("--overwrite", a.overwrite,
                "start again in an --out that holds a run, moving that run aside to <out>.replaced-<time>")
      ->excludes(resume);
  cmd->callback([out_option] {
    HEED_CHECK(!a.out.empty() || out_option->count() == 0, "train: --out is empty; give a directory (default: runs/<config name>)");
    tasks::TrainCommand c;
    c.file_config = train::read_json_file(a.config);
    c.config = c.file_config;
    for (const std::string& o : a.overrides) train::apply_override(c.config, o);
    c.overrides = a.overrides;
    c.config_path = a.config;
    c.data = a.data;
    c.out = a.out.empty() ? "runs/" + std::filesystem::path(a.config).stem().string() : a.out;
    c.resume = a.resume;
    std::string task;
    try {
      task = tasks::config_task(c.config);
    } catch (const Error& e) {
      detail::fail(a.config, ": ", e.what());
    }
    c.overwrite = a.overwrite;
    const tasks::TaskEntry& entry = tasks::find_task(task);
    const int status = entry.train(c);
    if (status != 0) throw ExitStatus{status};
  });
}

}  // namespace heed::cli
