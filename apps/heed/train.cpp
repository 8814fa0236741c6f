// heed train: train a Vision Transformer on an IDX image set, then report on its test split.
#include <cstdio>
#include <filesystem>

#include "commands.h"
#include "heed/data/idx.h"
#include "heed/train/config_json.h"
#include "heed/train/image_classifier.h"

namespace heed::cli {

namespace {
struct TrainArgs {
  std::string config, data = "data/fashion-mnist", out;
  std::vector<std::string> overrides;
  bool resume = false;
};

// Evaluates `checkpoint` on <data>/t10k-* when those files exist.
void report_on_test_split(const std::string& checkpoint, const std::string& data_dir) {
  namespace fs = std::filesystem;
  if (!fs::exists(data_dir + "/t10k-images-idx3-ubyte.gz") &&
      !fs::exists(data_dir + "/t10k-images-idx3-ubyte"))
    return;
  train::LoadedModel m = train::load_model(checkpoint);
  data::ImageSet test = data::load_idx_split(data_dir, "t10k");
  data::normalize_inplace(test.images, m.info.normalization);
  const train::Evaluation e = train::evaluate(*m.model, test.images, test.labels,
                                              m.info.config.data.eval_batch_size,
                                              m.info.config.data.class_names);
  std::printf("Test set (%s, %ld images), model %s:\n\n%s\n%s", data_dir.c_str(),
              long(test.images.size(0)), checkpoint.c_str(), metrics::format_report(e.report).c_str(),
              metrics::format_confusion_matrix(e.report).c_str());
}
}  // namespace

void register_train(CLI::App& app) {
  static TrainArgs a;
  auto* cmd = app.add_subcommand("train", "Train a Vision Transformer on IDX images (Fashion-MNIST layout)");
  cmd->add_option("--config", a.config, "JSON config (e.g. configs/vit-fashion-mnist.json)")->required();
  cmd->add_option("--data", a.data, "directory with train-*/t10k-* IDX files, gzip or not");
  cmd->add_option("--out", a.out, "output directory (default: runs/<config name>)");
  cmd->add_option("--set", a.overrides, "override a config value: key=value (e.g. train.epochs=3)");
  cmd->add_flag("--resume", a.resume, "continue from <out>/last.safetensors");
  cmd->callback([] {
    nlohmann::json json = train::read_json_file(a.config);
    for (const std::string& o : a.overrides) train::apply_override(json, o);
    train::ImageClassifierConfig config;
    try {
      config = train::parse_config(json);  // fails before any work
    } catch (const Error& e) {
      detail::fail(a.config, ": ", e.what());
    }
    const std::string out =
        a.out.empty() ? "runs/" + std::filesystem::path(a.config).stem().string() : a.out;
    const train::TrainResult r = train::train_image_classifier(config, a.data, out, a.resume);
    if (r.interrupted) return;
    std::printf("trained %ld epochs in %.1f s; best validation accuracy %.4f; checkpoints %s, %s\n",
                long(r.epochs_done), r.seconds, r.best_val_accuracy, r.best_path.c_str(),
                r.last_path.c_str());
    report_on_test_split(r.best_path, a.data);
  });
}

}  // namespace heed::cli
