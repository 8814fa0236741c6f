// Image classification with a Vision Transformer (the article's first application), as a task
// on the one trainer: IDX data in Fashion-MNIST's layout, per-channel normalisation, crop and
// flip augmentation, cross-entropy, the classification report.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "heed/data/idx.h"
#include "heed/data/loader.h"
#include "heed/nn/models/vit.h"
#include "heed/train/checkpoint.h"
#include "heed/train/options.h"
#include "heed/tasks/registry.h"
#include "heed/train/trainer.h"

namespace heed::tasks {

inline constexpr const char* kImageClassification = "image-classification";

struct ImageDataOptions {
  std::string dir = "data/fashion-mnist";  // train-* and t10k-* IDX files (--data overrides)
  double validation_fraction = 0.1;        // held out of the training files, seeded split
  int64_t crop_padding = 0;
  bool horizontal_flip = false;
  int64_t eval_batch_size = 500;
  std::vector<std::string> class_names;    // default: "0", "1", ...
};

struct ImageClassifierConfig {
  nn::VitConfig model;  // image size, channels and classes come from the data
  train::TrainOptions train;
  ImageDataOptions data;
};

// Strict parsing: unknown keys, wrong types and impossible values fail naming the key. A
// "task" key, when present, must be "image-classification".
ImageClassifierConfig parse_config(const nlohmann::json& json);
nlohmann::json to_json(const ImageClassifierConfig& config);
// The config without the keys that cannot change the result (what a resume compares).
nlohmann::json resume_view(const ImageClassifierConfig& config);

// Everything a checkpoint of this task holds besides tensors.
struct CheckpointInfo {
  ImageClassifierConfig config;
  data::Normalization normalization;
  train::TrainerState state;
};
void save_checkpoint(const std::string& path, nn::VisionTransformer& model, const CheckpointInfo& info,
                     const std::vector<std::pair<std::string, Tensor>>& optimizer_state);
// The info of a checkpoint read by train::read_checkpoint (errors start with its path).
CheckpointInfo checkpoint_info(const train::Checkpoint& checkpoint);

// Trains on <data.dir>/train-* (minus the validation split) and writes
// <out_dir>/{last,best}.safetensors and metrics.jsonl; with `resume`, continues from
// <out_dir>/last.safetensors exactly where it stopped.
train::TrainResult train_image_classifier(const ImageClassifierConfig& config, const std::string& out_dir,
                                          bool resume);

// The images of a set (normalised f32 [N, C, H, W]) with their labels, as batches "images" and
// "labels". Training batches are augmented (crop, flip; data/loader.h) with the key
// epoch * N + index, so an image's augmentation depends only on (seed, epoch, index).
class ImageDataset : public train::Dataset {
 public:
  ImageDataset(const data::ImageSet& set, data::AugmentOptions aug);
  int64_t size() const override { return images_.size(0); }
  nn::Batch batch(const std::vector<int64_t>& indices, const train::BatchContext& context) const override;

 private:
  Tensor images_, labels_;  // shared with the set, not copied
  data::AugmentOptions aug_;
};

// Loss, accuracy (the metric), report (json, text) and predictions on normalised `images`, in
// batches of `batch_size`, without gradients, in eval mode, over `replicas` model replicas
// (0: one per thread).
train::EvalResult evaluate(nn::VisionTransformer& model, const Tensor& images, const Tensor& labels,
                           int64_t batch_size, const std::vector<std::string>& class_names,
                           int replicas = 0);

// A model rebuilt from a checkpoint, ready for inference.
struct LoadedModel {
  std::unique_ptr<nn::VisionTransformer> model;
  CheckpointInfo info;
};
LoadedModel load_model(const std::string& checkpoint_path);
LoadedModel load_model(const train::Checkpoint& checkpoint);

// Images [N, C, H, W] in [0, 1] shaped for the model from an IDX file (3-D grey or 4-D colour)
// or an image (PGM/PPM/PNG): grey/colour converted, resized when needed.
Tensor load_inputs(const std::string& path, const nn::VitConfig& model);

// `heed train/eval/predict` for this task.
const TaskEntry& image_classification_entry();

}  // namespace heed::tasks
