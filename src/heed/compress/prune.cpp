#include "heed/compress/prune.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "heed/compress/quantize.h"
#include "heed/core/error.h"
#include "heed/io/atomic_file.h"
#include "heed/tasks/registry.h"
#include "heed/train/trainer.h"

namespace heed::compress {

namespace {
// The tasks whose checkpoints heed prune takes, for the refusal's message.
std::string pruned_tasks() {
  std::string names;
  for (const std::string& name : tasks::task_names())
    if (tasks::find_task(name).prune_subject) names += (names.empty() ? "" : ", ") + name;
  return names;
}

int64_t count_removed(const std::vector<std::vector<bool>>& pruned) {
  int64_t n = 0;
  for (const auto& layer : pruned)
    for (bool p : layer) n += p;
  return n;
}

// The fine-tune's config: the checkpoint's own (data, seed, validation part), on the pruned
// weights, for `steps` steps from a tenth of the training learning rate unless given.
nlohmann::json fine_tune_config(const train::Checkpoint& checkpoint, const PruneOptions& o,
                                const RemovedHeads& removed) {
  nlohmann::json config = checkpoint.meta.config;
  nlohmann::json& t = config["train"];
  const double lr = o.fine_tune_lr > 0 ? o.fine_tune_lr : t.value("lr", 1e-3) / 10;
  config["model"]["layer_heads"] = removed.layer_heads;
  t["init_from"] = o.out;
  t["max_steps"] = o.fine_tune_steps;
  t["warmup_epochs"] = 0;
  t["lr"] = lr;
  t["min_lr"] = std::min(t.value("min_lr", 0.0), lr);
  t["ema_decay"] = 0;  // an average would start from the pruned weights and lag the short run
  return config;
}

// Fine-tunes the pruned checkpoint at o.out on the trainer (run directory: report.fine_tune_run),
// then puts the run's best-validation weights in its place; interrupted, it leaves o.out as the
// pruned weights and says so in report.fine_tune_status.
void fine_tune(const train::Checkpoint& checkpoint, const PruneOptions& o, PruneReport& report) {
  const RemovedHeads& removed = report.removed;
  tasks::TrainCommand c;
  c.config = fine_tune_config(checkpoint, o, removed);
  c.file_config = c.config;
  c.config_path = checkpoint.path + " (its config, for the fine-tune)";
  c.out = o.out + ".fine-tune";
  c.overwrite = o.overwrite;
  std::fprintf(stderr, "fine-tuning %s for %lld steps (learning rate %g) in %s\n", o.out.c_str(),
               (long long)o.fine_tune_steps, c.config["train"]["lr"].get<double>(), c.out.c_str());
  report.fine_tune_run = c.out;
  report.fine_tune_status = tasks::find_task(checkpoint.meta.task).train(c);
  if (report.fine_tune_status != 0) return;
  const std::string best = c.out + "/best.safetensors";
  io::write_file_atomic(o.out, io::read_file(best, std::numeric_limits<uint64_t>::max()));
}
}  // namespace

PruneReport prune_report(const train::Checkpoint& checkpoint, const PruneOptions& o) {
  for (double f : o.curve)
    HEED_CHECK(std::isfinite(f) && f >= 0 && f <= 1, "prune: --curve fractions must be in [0, 1], got ", f);
  HEED_CHECK(o.out.empty() == (o.heads < 0), "prune: --heads F and --out FILE go together (remove a fraction F of "
             "the heads and write the smaller checkpoint)");
  HEED_CHECK(o.out.empty() || (std::isfinite(o.heads) && o.heads <= 1), "prune: --heads must be in [0, 1], got ",
             o.heads);
  HEED_CHECK(o.out.empty() || o.overwrite || !std::filesystem::exists(o.out), o.out,
             ": exists; choose another --out or pass --overwrite");
  HEED_CHECK(o.fine_tune_steps >= 0 && std::isfinite(o.fine_tune_lr) && o.fine_tune_lr >= 0,
             "prune: --fine-tune-steps and --fine-tune-lr must not be negative");
  HEED_CHECK(o.fine_tune_steps == 0 || !o.out.empty(), "prune: --fine-tune-steps fine-tunes the pruned "
             "checkpoint: give --heads F and --out FILE too");
  HEED_CHECK(o.fine_tune_lr == 0 || o.fine_tune_steps > 0, "prune: --fine-tune-lr needs --fine-tune-steps");
  // The fine-tune's run directory would refuse this only after the importance pass and the removal.
  HEED_CHECK(o.fine_tune_steps == 0 || o.overwrite || !std::filesystem::exists(o.out + ".fine-tune"), o.out,
             ".fine-tune: holds an earlier fine-tune; choose another --out or pass --overwrite");
  const tasks::TaskEntry& entry = tasks::find_task(checkpoint.meta.task);
  HEED_CHECK(entry.prune_subject, "prune: ", checkpoint.path, " is a ", entry.name,
             " checkpoint; heed prune takes ", pruned_tasks());
  HEED_CHECK(!is_quantized(checkpoint), "prune: ", checkpoint.path, " is quantised; prune the f32 checkpoint "
             "(and quantise the result)");
  // Both data sets are read before the long importance pass, so a bad path fails at once.
  tasks::PruneSubject measured = entry.prune_subject(checkpoint, o.data, o.split);
  tasks::PruneSubject tested;
  if (!o.curve.empty()) tested = entry.prune_subject(checkpoint, o.eval_data, "test");
  PruneReport r;
  r.metric_name = measured.task->metric_name();
  r.importance = head_importance(*measured.model, *measured.task, *measured.data, *measured.plan, o.samples);
  for (double f : o.curve) {
    const std::vector<std::vector<bool>> pruned = heads_to_prune(r.importance, f);
    mask_heads(*tested.model, pruned);  // nested: each fraction's heads include the smaller ones'
    const train::EvalResult e = train::evaluate(*tested.model, *tested.task, *tested.data, *tested.plan);
    r.curve.push_back({f, count_removed(pruned), e.metric, e.loss});
  }
  if (!o.out.empty()) {
    r.out = o.out;
    r.removed = remove_heads(checkpoint, heads_to_prune(r.importance, o.heads), o.out, o.overwrite);
    if (o.fine_tune_steps > 0) fine_tune(checkpoint, o, r);
  }
  return r;
}

nlohmann::json PruneReport::json() const {
  nlohmann::json curve_json = nlohmann::json::array();
  for (const PrunePoint& p : curve)
    curve_json.push_back({{"fraction", p.fraction}, {"heads_removed", p.removed}, {metric_name, p.metric},
                          {"loss", p.loss}});
  nlohmann::json j{{"examples", importance.examples}, {"importance", importance.raw},
                   {"importance_normalized", importance.normalized}, {"metric", metric_name}, {"curve", curve_json}};
  if (!out.empty())
    j["removed"] = {{"out", out}, {"heads_removed", removed.removed}, {"layer_heads", removed.layer_heads},
                    {"parameters_before", removed.parameters_before}, {"parameters_after", removed.parameters_after},
                    {"fine_tune_run", fine_tune_run}};
  return j;
}

std::string PruneReport::text() const {
  std::string s;
  char line[256];
  std::snprintf(line, sizeof line, "head importance (|dL/d gate| summed over %lld examples, each layer "
                "divided by its l2 norm)\n", (long long)importance.examples);
  s += line;
  s += "layer";
  for (size_t k = 0; k < (importance.normalized.empty() ? 0 : importance.normalized[0].size()); ++k) {
    std::snprintf(line, sizeof line, " %7s%zu", "head", k);
    s += line;
  }
  s += "\n";
  for (size_t l = 0; l < importance.normalized.size(); ++l) {
    std::snprintf(line, sizeof line, "%5zu", l);
    s += line;
    for (double v : importance.normalized[l]) {
      std::snprintf(line, sizeof line, " %8.3f", v);
      s += line;
    }
    s += "\n";
  }
  if (!curve.empty()) {
    std::snprintf(line, sizeof line, "\npruning curve (least important heads masked, every layer keeps one)\n"
                  "%9s %6s %12s %9s\n", "fraction", "heads", metric_name.c_str(), "loss");
    s += line;
    for (const PrunePoint& p : curve) {
      std::snprintf(line, sizeof line, "%9.2f %6lld %12.4f %9.4f\n", p.fraction, (long long)p.removed, p.metric, p.loss);
      s += line;
    }
  }
  if (!out.empty()) {
    std::string kept;
    for (int64_t h : removed.layer_heads) kept += (kept.empty() ? "" : " ") + std::to_string(h);
    s += "\nremoved " + std::to_string(removed.removed) + " heads (kept per layer: " + kept + "); parameters " +
         std::to_string(removed.parameters_before) + " -> " + std::to_string(removed.parameters_after) + "; wrote " +
         out + (fine_tune_run.empty() ? ""
                : fine_tune_status == 0 ? " (fine-tuned: the best-validation weights of " + fine_tune_run + ")"
                                        : " (not fine-tuned: the run in " + fine_tune_run + " was interrupted)") +
         "\n";
  }
  return s;
}

}  // namespace heed::compress
