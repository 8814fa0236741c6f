// heed eval: classification report (scikit-learn layout) and confusion matrix of a checkpoint.
#include <cstdio>

#include "commands.h"
#include "heed/data/idx.h"
#include "heed/metrics/classification.h"
#include "heed/train/image_classifier.h"

namespace heed::cli {

void register_eval(CLI::App& app) {
  static std::string checkpoint, data_dir = "data/fashion-mnist", split = "t10k";
  static bool json = false;
  auto* cmd = app.add_subcommand("eval", "Evaluate a checkpoint on an IDX split");
  cmd->add_option("--checkpoint", checkpoint, "checkpoint (.safetensors)")->required();
  cmd->add_option("--data", data_dir, "directory with the IDX files");
  cmd->add_option("--split", split, "file prefix: t10k (test) or train");
  cmd->add_flag("--json", json, "print JSON: accuracy, loss, report, confusion matrix");
  cmd->callback([] {
    train::LoadedModel m = train::load_model(checkpoint);
    data::ImageSet set = data::load_idx_split(data_dir, split);
    const nn::VitConfig& c = m.info.config.model;
    HEED_CHECK(set.images.size(1) == c.channels && set.images.size(2) == c.image_height &&
                   set.images.size(3) == c.image_width,
               data_dir, ": images are ", set.images.size(1), "x", set.images.size(2), "x",
               set.images.size(3), " but ", checkpoint, " was trained on ", c.channels, "x",
               c.image_height, "x", c.image_width);
    HEED_CHECK(set.num_classes <= c.num_classes, data_dir, ": labels reach class ",
               set.num_classes - 1, " but the model has ", c.num_classes, " classes");
    data::normalize_inplace(set.images, m.info.normalization);
    const train::Evaluation e = train::evaluate(*m.model, set.images, set.labels,
                                                m.info.config.data.eval_batch_size,
                                                m.info.config.data.class_names);
    if (json) {
      nlohmann::json out = metrics::to_json(e.report);
      out["loss"] = e.loss;
      out["checkpoint"] = checkpoint;
      out["images"] = set.images.size(0);
      std::printf("%s\n", out.dump(2).c_str());
    } else {
      std::printf("%s\n%s", metrics::format_report(e.report).c_str(),
                  metrics::format_confusion_matrix(e.report).c_str());
    }
  });
}

}  // namespace heed::cli
