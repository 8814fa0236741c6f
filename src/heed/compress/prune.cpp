#include "heed/compress/prune.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "heed/compress/quantize.h"
#include "heed/core/error.h"
#include "heed/tasks/registry.h"
#include "heed/train/trainer.h"

namespace heed::compress {

namespace {
int64_t count_removed(const std::vector<std::vector<bool>>& pruned) {
  int64_t n = 0;
  for (const auto& layer : pruned)
    for (bool p : layer) n += p;
  return n;
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
  const tasks::TaskEntry& entry = tasks::find_task(checkpoint.meta.task);
  HEED_CHECK(entry.prune_subject, "prune: ", checkpoint.path, " is a ", entry.name,
             " checkpoint; heed prune takes classifiers (image-classification, text-classification)");
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
                    {"parameters_before", removed.parameters_before}, {"parameters_after", removed.parameters_after}};
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
         out + "\n";
  }
  return s;
}

}  // namespace heed::compress
