// heed predict: the checkpoint's task predicts (images: --input; text: --text or --input).
#include "commands.h"
#include "heed/tasks/registry.h"

namespace heed::cli {

void register_predict(CLI::App& app) {
  static std::string checkpoint, input, text, dtype;
  static int64_t top_k = 3;
  static bool json = false;
  auto* cmd = app.add_subcommand("predict", "Predict with a checkpoint: images (IDX, PGM, PNG) or text");
  cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors)")->required();
  cmd->add_option("--input", input, "image file (PGM/PNG), IDX image file, or a text file (one record a line)");
  cmd->add_option("--text", text, "text to classify");
  cmd->add_option("--top-k", top_k, "classes to list per input")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  cmd->add_flag("--json", json, "print JSON");
  add_dtype_option(cmd, dtype);
  cmd->callback([] {
    HEED_CHECK(!input.empty() || !text.empty(), "predict: give --input FILE or --text TEXT");
    tasks::PredictCommand c{read_checkpoint_as(checkpoint, dtype), input, text, top_k, json};
    tasks::find_task(c.checkpoint.meta.task).predict(c);
  });
}

}  // namespace heed::cli
