// heed prune: per-head importance of a classifier's attention and its pruning curve
// (compress/prune.h, docs/compression.md).
#include <unistd.h>

#include <cstdio>

#include "commands.h"
#include "heed/compress/prune.h"

namespace heed::cli {

namespace {
// Sends what is written to stdout to stderr while it lives (when `active`).
class StdoutToStderr {
 public:
  explicit StdoutToStderr(bool active) {
    if (!active) return;
    std::fflush(stdout);
    saved_ = ::dup(STDOUT_FILENO);
    if (saved_ >= 0) ::dup2(STDERR_FILENO, STDOUT_FILENO);
  }
  ~StdoutToStderr() {
    if (saved_ < 0) return;
    std::fflush(stdout);
    ::dup2(saved_, STDOUT_FILENO);
    ::close(saved_);
  }
  StdoutToStderr(const StdoutToStderr&) = delete;
  StdoutToStderr& operator=(const StdoutToStderr&) = delete;

 private:
  int saved_ = -1;
};
}  // namespace

void register_prune(CLI::App& app) {
  static std::string checkpoint;
  static compress::PruneOptions o;
  static bool json = false;
  auto* cmd = app.add_subcommand("prune", "Attention-head importance (Michel et al. 2019) and the pruning curve");
  cmd->add_option("--checkpoint", checkpoint, "the f32 checkpoint (.safetensors)")->required();
  cmd->add_option("--data", o.data, "measure importance on this data (images: IDX directory; text: a file)");
  cmd->add_option("--split", o.split, "or on this split of the checkpoint's data: train (default) or test");
  cmd->add_option("--samples", o.samples, "records to measure importance on (0: all)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--curve", o.curve, "fractions of heads to mask, evaluated on the test data (e.g. 0 0.1 0.3)")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--eval-data", o.eval_data, "evaluate the curve on this data instead of the test split");
  cmd->add_option("--heads", o.heads, "remove this fraction of the heads (least important first; every layer "
                                      "keeps one), with --out")
      ->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--out", o.out, "write the checkpoint without those heads (smaller projections)");
  cmd->add_flag("--overwrite", o.overwrite, "replace an existing --out (and its --out.fine-tune run)");
  cmd->add_option("--fine-tune-steps", o.fine_tune_steps, "then fine-tune the pruned model this many steps with "
                  "the checkpoint's config and data (run in --out.fine-tune; --out gets its best weights)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--fine-tune-lr", o.fine_tune_lr, "the fine-tune's learning rate (default: the config's "
                  "train.lr / 10)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", json, "print JSON: importance, normalised importance, curve, what was removed");
  cmd->callback([] {
    compress::PruneReport r;
    {
      // The fine-tune's own report (the trainer's test report) goes to stderr with --json, so
      // stdout stays one JSON document.
      StdoutToStderr quiet(json && o.fine_tune_steps > 0);
      r = compress::prune_report(train::read_checkpoint(checkpoint), o);
    }
    if (json)
      std::printf("%s\n", r.json().dump(2).c_str());
    else
      std::printf("%s", r.text().c_str());
    if (r.fine_tune_status != 0) throw ExitStatus{r.fine_tune_status};
  });
}

}  // namespace heed::cli
