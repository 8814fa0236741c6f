// heed eval: the checkpoint's task evaluates it (report in scikit-learn's layout, or --json).
#include "commands.h"
#include "heed/tasks/registry.h"

namespace heed::cli {

void register_eval(CLI::App& app) {
  static std::string checkpoint, data, split;
  static bool json = false;
  auto* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on a test split or file");
  cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors)")->required();
  cmd->add_option("--data", data, "images: IDX directory; text: a JSONL/CSV/TSV file (default: the "
                                  "checkpoint's test data)");
  cmd->add_option("--split", split, "images: file prefix, t10k (test) or train");
  cmd->add_flag("--json", json, "print JSON: accuracy, loss, report, confusion matrix");
  cmd->callback([] {
    tasks::EvalCommand c{train::read_checkpoint(checkpoint), data, split, json};
    tasks::find_task(c.checkpoint.meta.task).eval(c);
  });
}

}  // namespace heed::cli
