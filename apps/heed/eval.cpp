// heed eval: the checkpoint's task evaluates it (report in scikit-learn's layout, or --json).
#include "commands.h"
#include "heed/tasks/registry.h"

namespace heed::cli {

void register_eval(CLI::App& app) {
  static std::vector<std::string> checkpoints;
  static std::string data, split, dtype;
  static bool json = false;
  static int64_t beam = 0;
  static double length_penalty = 1.0;
  auto* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on a test split or file");
  cmd->add_option("--checkpoint", checkpoints, "checkpoint (.safetensors); text classifiers: give it again to "
                                              "evaluate the ensemble that averages their probabilities")
      ->required();
  cmd->add_option("--data", data, "images: IDX directory; text: a JSONL/CSV/TSV file (default: the "
                                  "checkpoint's test data)");
  cmd->add_option("--split", split, "images: file prefix, t10k (test) or train");
  cmd->add_flag("--json", json, "print JSON: accuracy, loss, report, confusion matrix");
  cmd->add_option("--beam", beam, "seq2seq: decode the test sources with beam search of this size (default greedy)")
      ->check(CLI::Range(int64_t{1}, int64_t{1} << 16));
  cmd->add_option("--length-penalty", length_penalty, "with --beam: beam scores are log P / length^this");
  add_dtype_option(cmd, dtype);
  cmd->callback([] {
    tasks::EvalCommand c{read_checkpoint_as(checkpoints[0], dtype), {}, data, split, json, beam, length_penalty};
    const tasks::TaskEntry& task = tasks::find_task(c.checkpoint.meta.task);
    HEED_CHECK(beam == 0 || task.decodes, "eval: --beam is for checkpoints that generate text (seq2seq); ",
               checkpoints[0], " is a ", task.name, " checkpoint");
    HEED_CHECK(checkpoints.size() == 1 || task.averages_checkpoints, "eval: ", checkpoints.size(),
               " checkpoints given, but task ", task.name, " evaluates one checkpoint at a time (",
               checkpoints[0], ")");
    for (size_t i = 1; i < checkpoints.size(); ++i) c.more.push_back(read_checkpoint_as(checkpoints[i], dtype));
    task.eval(c);
  });
}

}  // namespace heed::cli
