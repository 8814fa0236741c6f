// heed prune: per-head importance of a classifier's attention and its pruning curve
// (compress/prune.h, docs/compression.md).
#include <cstdio>

#include "commands.h"
#include "heed/compress/prune.h"

namespace heed::cli {

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
  cmd->add_flag("--overwrite", o.overwrite, "replace an existing --out");
  cmd->add_flag("--json", json, "print JSON: importance, normalised importance, curve, what was removed");
  cmd->callback([] {
    const compress::PruneReport r = compress::prune_report(train::read_checkpoint(checkpoint), o);
    if (json)
      std::printf("%s\n", r.json().dump(2).c_str());
    else
      std::printf("%s", r.text().c_str());
  });
}

}  // namespace heed::cli
