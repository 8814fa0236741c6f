// heed explain: what a checkpoint's model attends to for one input, as pictures, JSON and a
// browser page (interpret/explanation_files.h lists the files).
#include "commands.h"
#include "heed/tasks/registry.h"

namespace heed::cli {

void register_explain(CLI::App& app) {
  static std::string checkpoint, input, text, out;
  static int64_t index = 0, cls = -1, layer = -1, head = -1, samples = 1000;
  static bool evaluate = false;
  static std::string data;
  auto* cmd = app.add_subcommand(
      "explain", "Explain one prediction: attention maps, rollout and gradient-weighted rollout");
  cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors)")->required();
  cmd->add_option("--input", input, "image file (PGM/PNG) or IDX image file (with --index)");
  cmd->add_option("--text", text, "text, for a text classifier");
  cmd->add_option("--out", out, "directory to write (must not exist, or be empty)");
  cmd->add_flag("--evaluate", evaluate, "measure faithfulness instead: the deletion test on --data's test split");
  cmd->add_option("--data", data, "--evaluate: IDX directory (default: the checkpoint's)");
  cmd->add_option("--n", samples, "--evaluate: test images to use")->check(CLI::Range(int64_t{1}, int64_t{1} << 30));
  cmd->add_option("--index", index, "record of an IDX --input")->check(CLI::NonNegativeNumber);
  cmd->add_option("--class", cls, "class to explain (default: the predicted one)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--layer", layer, "layer of the raw-attention method (default: the last)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--head", head, "head of the raw-attention method (default: the mean)")->check(CLI::NonNegativeNumber);
  cmd->callback([] {
    if (!evaluate) {
      HEED_CHECK(input.empty() != text.empty(), "explain: give --input FILE or --text TEXT, one of them");
      HEED_CHECK(!out.empty(), "explain: give --out DIR (the directory to write)");
    }
    tasks::ExplainCommand c{train::read_checkpoint(checkpoint), input, text, out, index, cls, layer,
                            head, evaluate, data, samples};
    const tasks::TaskEntry& task = tasks::find_task(c.checkpoint.meta.task);
    HEED_CHECK(task.explain, "explain: ", checkpoint, " is a ", task.name,
               " checkpoint, whose model heed cannot explain (it has no classifier output)");
    task.explain(c);
  });
}

}  // namespace heed::cli
