// heed prune: the per-head importance of a checkpoint's attention layers and the pruning curve
// (the model's metric with the least important heads masked), for every task whose entry
// supplies a PruneSubject (tasks/registry.h). docs/compression.md.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/compress/head_pruning.h"
#include "heed/compress/remove_heads.h"
#include "heed/train/checkpoint.h"

namespace heed::compress {

struct PruneOptions {
  std::string data;             // where importance is measured: a path (images: an IDX directory), or
                                // empty for the checkpoint's own data
  std::string split = "train";  // of it: never the test split by default (heads are chosen, then tested)
  int64_t samples = 2000;       // records of it (0: all)
  std::string eval_data;        // where the curve is evaluated (its test split): a path, or empty
  std::vector<double> curve;    // fractions of heads to remove, each in [0, 1]
  // Physically remove this fraction of the heads (the least important; every layer keeps one)
  // and write the smaller checkpoint to `out` (compress/remove_heads.h); negative: don't.
  double heads = -1;
  std::string out;
  bool overwrite = false;
  // > 0: then fine-tune the pruned model for this many steps on the one trainer, with the
  // checkpoint's own config and data (train.init_from = out, train.max_steps, no warm-up), in the
  // run directory `out`.fine-tune; `out` becomes that run's best-validation checkpoint.
  int64_t fine_tune_steps = 0;
  double fine_tune_lr = 0;  // > 0: its learning rate; 0: a tenth of the config's train.lr
};

struct PrunePoint {
  double fraction = 0;
  int64_t removed = 0;  // heads masked
  double metric = 0, loss = 0;
};

struct PruneReport {
  std::string metric_name;
  HeadImportance importance;
  std::vector<PrunePoint> curve;
  std::string out;       // where the pruned checkpoint went (PruneOptions::out), or empty
  RemovedHeads removed;  // what it lost
  std::string fine_tune_run;  // the fine-tune's run directory, or empty
  int fine_tune_status = 0;   // its exit status: 0, or 128 + the signal that stopped it
  nlohmann::json json() const;
  std::string text() const;
};

PruneReport prune_report(const train::Checkpoint& checkpoint, const PruneOptions& options);

}  // namespace heed::compress
